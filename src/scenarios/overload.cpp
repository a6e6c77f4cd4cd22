// overload: a slow callback behind a small subscription queue; fed faster than
// it can process, roscpp drops the oldest queued messages (see the gap column).
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "overload");
  rs::SubscriberNode node;
  const std::string topic = rs::param_string(node.pnh, "topic", "/overload/data");
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 2));
  const rs::WorkSpec work = rs::read_work(node.pnh, 20.0);

  const std::string& resolved = node.subscribe(topic, queue_size, work);
  ROS_INFO("overload: subscribing %s [%s] queue_size=%d, callback does %.3f ms of %s work "
           "(max %.1f msg/s); truth_file=%s",
           resolved.c_str(), node.type_name(), queue_size, work.ms, rs::work_mode_name(work.mode),
           work.ms > 0 ? 1000.0 / work.ms : 0.0, node.truth_desc());
  ros::spin();
  node.finish();
  return 0;
}
