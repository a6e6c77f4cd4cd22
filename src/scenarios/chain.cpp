// chain: one link of a processing chain. Subscribes ~in, busy-works ~work_ms, publishes
// the message on ~out with its seq (and data) unchanged, so a path's messages can be
// followed end to end. With ~timer_hz > 0 it samples instead: the callback only keeps
// the latest input, and a ros::WallTimer publishes the latest kept one at that rate
// (with ~new_only: true, a sample only once).
//
// Truth (~truth_file): one subscriber row per input message (cb_start/cb_end around
// work + publish); with a timer, one row per timer publish on `~out` in the publisher
// format (pub_start_ns = the publish, size = the age of the sample in ns: publish time
// - the end of the callback that kept it; seq = the sample's seq).
#include "scenario_common.h"

#include <mutex>

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "chain");
  ros::NodeHandle nh, pnh("~");
  const std::string in = rs::param_string(pnh, "in", "/chain/in");
  const std::string out = rs::param_string(pnh, "out", "/chain/out");
  const double work_ms = rs::param_double(pnh, "work_ms", 5.0);
  const double timer_hz = rs::param_double(pnh, "timer_hz", 0.0);
  const bool new_only = rs::param_bool(pnh, "new_only", false);
  rs::TruthWriter truth(rs::param_string(pnh, "truth_file", ""),
                        timer_hz > 0 ? rs::kPublisherHeader : rs::kSubscriberHeader);
  ros::Publisher pub = nh.advertise<rostrace::Payload>(out, 100);
  const std::string in_resolved = nh.resolveName(in), out_resolved = nh.resolveName(out);
  uint64_t count = 0;
  std::mutex latest_mutex;
  rostrace::Payload latest;
  int64_t latest_done = 0;
  bool have_latest = false;

  auto callback = [&](const rostrace::Payload::ConstPtr& msg) {
    const int64_t cb_start = rs::mono_ns();
    rs::busy_work(work_ms);
    if (timer_hz > 0)
    {
      std::lock_guard<std::mutex> lock(latest_mutex);
      latest = *msg;
      latest_done = rs::mono_ns();
      have_latest = true;
      return;
    }
    rostrace::Payload next = *msg;
    next.sent_ns = rs::mono_ns();
    pub.publish(next);
    const int64_t cb_end = rs::mono_ns();
    ++count;
    if (truth.enabled())
      rs::write_subscriber_row(truth, in_resolved, msg->seq, count, msg->data.size(), cb_start, cb_end, 0, 0);
  };
  ros::Subscriber sub = nh.subscribe<rostrace::Payload>(in, 100, callback);
  ros::WallTimer timer;
  if (timer_hz > 0)
    timer = nh.createWallTimer(ros::WallDuration(1.0 / timer_hz), [&](const ros::WallTimerEvent&) {
      rostrace::Payload sample;
      int64_t done;
      {
        std::lock_guard<std::mutex> lock(latest_mutex);
        if (!have_latest)
          return;
        sample = latest;
        done = latest_done;
        have_latest = !new_only;
      }
      const int64_t t0 = rs::mono_ns();
      sample.sent_ns = t0;
      pub.publish(sample);
      const int64_t t1 = rs::mono_ns();
      if (truth.enabled())
        rs::write_publisher_row(truth, out_resolved, sample.seq, static_cast<uint64_t>(t0 - done), t0, t1);
    });
  ROS_INFO("chain: %s -> %.3f ms -> %s%s; truth_file=%s", in_resolved.c_str(), work_ms, out_resolved.c_str(),
           timer_hz > 0 ? " (sampled by a timer)" : "", truth.enabled() ? truth.path().c_str() : "(none)");
  ros::spin();
  truth.close();
  return 0;
}
