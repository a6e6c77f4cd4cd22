// many_topics: N topics in one process, for scale benchmarks.
//   ~role publisher: publishes a small Payload on ~prefix/0 .. ~prefix/N-1, ~rate Hz each.
//   ~role subscriber: subscribes to all of them with an empty callback.
#include "scenario_common.h"

#include <rostrace/Payload.h>

namespace rs = rostrace_scenarios;

static void on_message(const rostrace::Payload::ConstPtr&) {}

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "many_topics");
  ros::NodeHandle nh, pnh("~");
  const std::string role = rs::param_string(pnh, "role", "subscriber");
  const std::string prefix = rs::param_string(pnh, "prefix", "/many");
  const int count = static_cast<int>(rs::param_int(pnh, "topics", 10));
  const double rate = rs::param_double(pnh, "rate", 10.0);
  ROS_INFO("many_topics: %s of %d topics %s/N at %.1f Hz each", role.c_str(), count,
           prefix.c_str(), rate);
  if (role == "subscriber") {
    std::vector<ros::Subscriber> subs;
    for (int i = 0; i < count; ++i)
      subs.push_back(nh.subscribe(prefix + "/" + std::to_string(i), 100, on_message));
    ros::spin();
    return 0;
  }
  std::vector<ros::Publisher> pubs;
  for (int i = 0; i < count; ++i)
    pubs.push_back(nh.advertise<rostrace::Payload>(prefix + "/" + std::to_string(i), 100));
  rostrace::Payload msg;
  msg.data.resize(64);
  const int64_t period_ns = static_cast<int64_t>(1e9 / rate);
  int64_t next = rs::mono_ns();
  while (ros::ok()) {
    for (auto& pub : pubs) {
      ++msg.seq;
      msg.sent_ns = rs::mono_ns();
      pub.publish(msg);
    }
    next += period_ns;
    rs::sleep_until_ns(next);
  }
  return 0;
}
