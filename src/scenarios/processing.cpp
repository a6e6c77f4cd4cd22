// processing: one subscription whose callback does ~work_ms of busy or sleep work.
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "processing");
  rs::SubscriberNode node;
  const std::string topic = rs::param_string(node.pnh, "topic", "/processing/data");
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 10));
  const rs::WorkSpec work = rs::read_work(node.pnh, 5.0);

  const std::string& resolved = node.subscribe(topic, queue_size, work);
  ROS_INFO("processing: subscribing %s [%s] queue_size=%d, callback does %.3f ms of %s work; truth_file=%s",
           resolved.c_str(), node.type_name(), queue_size, work.ms, rs::work_mode_name(work.mode), node.truth_desc());
  ros::spin();
  node.finish();
  return 0;
}
