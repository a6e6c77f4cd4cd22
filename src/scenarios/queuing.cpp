// queuing: a slow and a fast subscription served by one thread, so messages of
// the fast topic wait in the callback queue behind the slow callback.
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "queuing");
  rs::SubscriberNode node;
  const std::string slow_topic = rs::param_string(node.pnh, "slow_topic", "/queuing/slow");
  const std::string fast_topic = rs::param_string(node.pnh, "fast_topic", "/queuing/fast");
  const double slow_ms = rs::param_double(node.pnh, "slow_ms", 20.0);
  const double fast_ms = rs::param_double(node.pnh, "fast_ms", 0.1);
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 100));

  const std::string& slow = node.subscribe(slow_topic, queue_size, rs::WorkSpec{ slow_ms, rs::WorkMode::Busy });
  const std::string& fast = node.subscribe(fast_topic, queue_size, rs::WorkSpec{ fast_ms, rs::WorkMode::Busy });
  ROS_INFO("queuing: single-threaded spin over %s (busy %.3f ms) and %s (busy %.3f ms) [%s] queue_size=%d; "
           "truth_file=%s",
           slow.c_str(), slow_ms, fast.c_str(), fast_ms, node.type_name(), queue_size, node.truth_desc());
  ros::spin();
  node.finish();
  return 0;
}
