// timers: one ros::Timer (or WallTimer / SteadyTimer, ~kind) of ~period_ms, created
// after ~start_delay s and stopped after ~firings callbacks (0: never), whose every
// ~slow_every-th callback busy-works ~slow_ms; the others ~work_ms. Ground truth per
// firing from roscpp's own TimerEvent (expected and real start of this firing, when
// the timer thread queued it, the previous callback's duration as roscpp measured it)
// and the callback's own steady_clock start and end, in ns.
#include "scenario_common.h"

#include <functional>

namespace rs = rostrace_scenarios;

namespace
{
const char* const kTimerHeader =
    "firing,expected_ns,real_ns,expired_ns,last_duration_ns,start_ns,end_ns";

template <class Event>
int64_t ns(const Event& t)
{
  return static_cast<int64_t>(t.toNSec());
}

// The callback is a member function: rostrace names the timer after it.
class Controller
{
public:
  Controller(double work_ms, double slow_ms, int64_t slow_every, uint64_t firings,
             const std::string& truth)
    : work_ms_(work_ms)
    , slow_ms_(slow_ms)
    , slow_every_(slow_every)
    , max_firings_(firings)
    , truth_(truth, kTimerHeader)
  {
  }

  std::function<void()> on_last;   // stops the timer (from its last callback)

  template <class Event>
  void update(const Event& e)
  {
    const int64_t start = rs::mono_ns();
    ++firings_;
    rs::busy_work(slow_every_ > 0 && firings_ % slow_every_ == 0 ? slow_ms_ : work_ms_);
    const int64_t end = rs::mono_ns();
    char line[200];
    const int n = std::snprintf(line, sizeof(line), "%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                                ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n", firings_,
                                ns(e.current_expected), ns(e.current_real), ns(e.current_expired),
                                ns(e.profile.last_duration), start, end);
    truth_.push(line, static_cast<size_t>(n));
    if (firings_ == max_firings_ && on_last)
      on_last();
  }

  void finish() { truth_.close(); }

private:
  double work_ms_, slow_ms_;
  int64_t slow_every_;
  uint64_t max_firings_;
  uint64_t firings_ = 0;
  rs::TruthWriter truth_;
};
}  // namespace

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "timers");
  ros::NodeHandle nh, pnh("~");
  const double period_s = rs::param_double(pnh, "period_ms", 50.0) / 1e3;
  const std::string kind = rs::param_string(pnh, "kind", "ros");
  Controller c(rs::param_double(pnh, "work_ms", 1.0), rs::param_double(pnh, "slow_ms", 80.0),
               rs::param_int(pnh, "slow_every", 5),
               static_cast<uint64_t>(rs::param_int(pnh, "firings", 0)),
               rs::param_string(pnh, "truth_file", ""));
  ros::Timer timer;
  ros::WallTimer wall_timer;
  ros::SteadyTimer steady_timer;
  c.on_last = [&] {
    timer.stop();
    wall_timer.stop();
    steady_timer.stop();
    ROS_INFO("timers: last firing, timer stopped");
  };
  ros::WallDuration(rs::param_double(pnh, "start_delay", 0.0)).sleep();
  if (kind == "wall")
    wall_timer = nh.createWallTimer(ros::WallDuration(period_s),
                                    &Controller::update<ros::WallTimerEvent>, &c);
  else if (kind == "steady")
    steady_timer = nh.createSteadyTimer(ros::WallDuration(period_s),
                                        &Controller::update<ros::SteadyTimerEvent>, &c);
  else
    timer = nh.createTimer(ros::Duration(period_s), &Controller::update<ros::TimerEvent>, &c);
  ROS_INFO("timers: a %s timer of %.3f ms", kind.c_str(), period_s * 1e3);
  ros::spin();
  timer.stop();
  wall_timer.stop();
  steady_timer.stop();
  c.finish();
  return 0;
}
