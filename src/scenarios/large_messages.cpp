// large_messages: subscription for large payloads (e.g. a 1 KiB..8 MiB ladder);
// the callback only touches the first and last byte and does ~work_ms of work.
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "large_messages");
  rs::SubscriberNode node;
  const std::string topic = rs::param_string(node.pnh, "topic", "/large/data");
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 100));
  const rs::WorkSpec work = rs::read_work(node.pnh, 0.0);

  const std::string& resolved =
      node.subscribe(topic, queue_size, work, nullptr, ros::TransportHints().tcpNoDelay());
  ROS_INFO("large_messages: subscribing %s [%s] queue_size=%d tcp_nodelay, callback does %.3f ms of %s work; "
           "truth_file=%s",
           resolved.c_str(), node.type_name(), queue_size, work.ms, rs::work_mode_name(work.mode), node.truth_desc());
  ros::spin();
  node.finish();
  return 0;
}
