// throwing: a subscriber whose callback throws std::runtime_error on every ~throw_every-th
// message (after ~work_ms of busy work); the node's own code catches it around
// ros::spinOnce(), as real nodes do. Truth per message: seq,cb_start_ns,cb_end_ns,threw.
#include "scenario_common.h"

#include <rostrace/Payload.h>
#include <stdexcept>

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "throwing");
  ros::NodeHandle nh, pnh("~");
  const int64_t throw_every = rs::param_int(pnh, "throw_every", 5);
  const double work_ms = rs::param_double(pnh, "work_ms", 1.0);
  rs::TruthWriter truth(rs::param_string(pnh, "truth_file", ""), "seq,cb_start_ns,cb_end_ns,threw");
  uint64_t count = 0, caught = 0;
  ros::Subscriber sub = nh.subscribe<rostrace::Payload>(
      rs::param_string(pnh, "topic", "/throwing/data"), 100,
      [&](const rostrace::Payload::ConstPtr& m) {
        const int64_t start = rs::mono_ns();
        ++count;
        rs::busy_work(work_ms);
        const bool fail = throw_every > 0 && count % throw_every == 0;
        char line[128];
        const int n = std::snprintf(line, sizeof(line), "%" PRIu64 ",%" PRId64 ",%" PRId64 ",%d\n",
                                    m->seq, start, rs::mono_ns(), fail ? 1 : 0);
        truth.push(line, static_cast<size_t>(n));
        if (fail)
          throw std::runtime_error("callback failed");
      });
  ROS_INFO("throwing: every %" PRId64 "th callback throws", throw_every);
  while (ros::ok())
  {
    try
    {
      ros::spinOnce();
    }
    catch (const std::exception& e)
    {
      ++caught;
    }
    ros::WallDuration(0.0005).sleep();
  }
  truth.close();
  rs::final_log("summary: %" PRIu64 " callbacks, %" PRIu64 " exceptions caught", count, caught);
  return 0;
}
