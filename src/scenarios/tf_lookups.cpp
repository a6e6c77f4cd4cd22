// tf_lookups: tf2 lookups whose waits and failures are known.
//   - Every message on ~input (any type) starts a "late" lookup in its subscription
//     callback: the node asks tf2_ros::Buffer::lookupTransform(~target, ~source, now,
//     ~timeout_ms) while its own broadcaster thread publishes that transform (stamped
//     now) only ~delay_ms later, so the lookup waits about ~delay_ms.
//   - A wall timer of ~period_ms looks up ~unknown_every-th firing an unknown frame with
//     a ~unknown_timeout_ms timeout (tf2::LookupException after waiting), and every
//     ~island_every-th firing a frame of an unconnected tree without a timeout
//     (tf2::ConnectivityException at once); ~timer_lookups firings in all (0: forever),
//     from ~start_delay s after start on. Every ~odom_every-th firing (0: none) looks up
//     ~target -> odom (a static transform, found at once): the benchmark's lookups.
//     With ~evict_type_names, each unconnected-tree lookup first unmaps from this process
//     the page holding tf2::ConnectivityException's type name (as in a process that
//     never touched it), so that a tracer's kernel side cannot read what it throws
//     (no wait: nothing of this process touches the page before the throw, most times).
// Every exception is caught: the node must survive tracing. Ground truth (steady_clock,
// ns) per lookup: where (topic/timer), kind (late/unknown/island), seq, the lookup's
// start and end, the exception (none/lookup/connectivity/...), and the callback's start
// and end.
#include "scenario_common.h"

#include <condition_variable>
#include <sys/mman.h>
#include <typeinfo>
#include <unistd.h>
#include <geometry_msgs/TransformStamped.h>
#include <ros/message_event.h>
#include <tf2/exceptions.h>
#include <tf2_ros/buffer.h>
#include <tf2_ros/static_transform_broadcaster.h>
#include <tf2_ros/transform_broadcaster.h>
#include <tf2_ros/transform_listener.h>
#include <topic_tools/shape_shifter.h>

namespace rs = rostrace_scenarios;

namespace
{
const char* const kTfHeader = "where,kind,seq,start_ns,end_ns,error,cb_start_ns,cb_end_ns";

geometry_msgs::TransformStamped transform(const std::string& parent, const std::string& child,
                                          const ros::Time& stamp)
{
  geometry_msgs::TransformStamped t;
  t.header.stamp = stamp;
  t.header.frame_id = parent;
  t.child_frame_id = child;
  t.transform.rotation.w = 1.0;
  t.transform.translation.x = 1.0;
  return t;
}

void evict_type_name(const std::type_info& type)
{
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t at = reinterpret_cast<uintptr_t>(type.name()) & ~(page - 1);  // reads it
  if (madvise(reinterpret_cast<void*>(at), page, MADV_DONTNEED) != 0)
    ROS_WARN("madvise(MADV_DONTNEED) of a type name's page failed: %s", strerror(errno));
}

class Lookups
{
public:
  Lookups(ros::NodeHandle& pnh)
    : target_(rs::param_string(pnh, "target", "map"))
    , source_(rs::param_string(pnh, "source", "base_link"))
    , delay_s_(rs::param_double(pnh, "delay_ms", 30.0) / 1e3)
    , timeout_(rs::param_double(pnh, "timeout_ms", 1000.0) / 1e3)
    , unknown_timeout_(rs::param_double(pnh, "unknown_timeout_ms", 20.0) / 1e3)
    , unknown_every_(rs::param_int(pnh, "unknown_every", 2))
    , island_every_(rs::param_int(pnh, "island_every", 3))
    , odom_every_(rs::param_int(pnh, "odom_every", 0))
    , max_firings_(static_cast<uint64_t>(rs::param_int(pnh, "timer_lookups", 0)))
    , evict_type_names_(rs::param_bool(pnh, "evict_type_names", false))
    , timer_from_ns_(rs::mono_ns() +
                     static_cast<int64_t>(rs::param_double(pnh, "start_delay", 0.0) * 1e9))
    , truth_(rs::param_string(pnh, "truth_file", ""), kTfHeader)
    , listener_(buffer_)
    , broadcaster_thread_(&Lookups::broadcast, this)
  {
  }

  ~Lookups() { finish(); }

  void on_input(const ros::MessageEvent<topic_tools::ShapeShifter const>&)
  {
    const int64_t cb_start = rs::mono_ns();
    const ros::Time stamp = ros::Time::now();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(stamp);
    }
    wake_.notify_one();
    ++topic_seq_;
    const int64_t start = rs::mono_ns();
    std::string error = "none";
    try
    {
      buffer_.lookupTransform(target_, source_, stamp, timeout_);
    }
    catch (const tf2::TransformException& e)
    {
      error = kind_of(e);
    }
    const int64_t end = rs::mono_ns();
    row("topic", "late", topic_seq_, start, end, error, cb_start, rs::mono_ns());
  }

  void on_timer(const ros::WallTimerEvent&)
  {
    if ((max_firings_ && firings_ >= max_firings_) || rs::mono_ns() < timer_from_ns_)
      return;
    ++firings_;
    const int64_t cb_start = rs::mono_ns();
    const char* kind = nullptr;
    std::string source;
    ros::Duration timeout(0.0);
    if (unknown_every_ > 0 && firings_ % unknown_every_ == 0)
    {
      kind = "unknown";
      source = "ghost_frame";
      timeout = unknown_timeout_;
    }
    else if (island_every_ > 0 && firings_ % island_every_ == 0)
    {
      kind = "island";
      source = "island";
    }
    else if (odom_every_ > 0 && firings_ % odom_every_ == 0)
    {
      kind = "odom";
      source = "odom";
    }
    if (!kind)
      return;
    const int64_t start = rs::mono_ns();
    std::string error = "none";
    try
    {
      if (evict_type_names_ && source == "island")   // last: rodata near it may be read
        evict_type_name(typeid(tf2::ConnectivityException));
      buffer_.lookupTransform(target_, source, ros::Time(0), timeout);
    }
    catch (const tf2::TransformException& e)
    {
      error = kind_of(e);
    }
    const int64_t end = rs::mono_ns();
    row("timer", kind, firings_, start, end, error, cb_start, rs::mono_ns());
  }

  void finish()
  {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    if (broadcaster_thread_.joinable())
      broadcaster_thread_.join();
    truth_.close();
  }

private:
  static std::string kind_of(const tf2::TransformException& e)
  {
    if (dynamic_cast<const tf2::LookupException*>(&e))
      return "lookup";
    if (dynamic_cast<const tf2::ConnectivityException*>(&e))
      return "connectivity";
    if (dynamic_cast<const tf2::ExtrapolationException*>(&e))
      return "extrapolation";
    if (dynamic_cast<const tf2::TimeoutException*>(&e))
      return "timeout";
    return "other";
  }

  void row(const char* where, const char* kind, uint64_t seq, int64_t start, int64_t end,
           const std::string& error, int64_t cb_start, int64_t cb_end)
  {
    truth_.row("%s,%s,%" PRIu64 ",%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%" PRId64, where, kind,
               seq, start, end, error.c_str(), cb_start, cb_end);
  }

  // Publishes each requested stamp's transform delay_s_ after it was asked for; the
  // target frame (target -> odom) and an unconnected tree (island_root -> island) once,
  // as static transforms.
  void broadcast()
  {
    tf2_ros::TransformBroadcaster tf;
    tf2_ros::StaticTransformBroadcaster tf_static;
    const ros::Time now = ros::Time::now();
    tf_static.sendTransform(std::vector<geometry_msgs::TransformStamped>{
        transform(target_, "odom", now), transform("island_root", "island", now) });
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_)
    {
      if (requests_.empty())
      {
        wake_.wait(lock);
        continue;
      }
      const ros::Time stamp = requests_.front();
      requests_.pop_front();
      lock.unlock();
      const ros::Duration left = stamp + ros::Duration(delay_s_) - ros::Time::now();
      if (left > ros::Duration(0))
        left.sleep();
      tf.sendTransform(transform(target_, source_, stamp));
      lock.lock();
    }
  }

  std::string target_, source_;
  double delay_s_;
  ros::Duration timeout_, unknown_timeout_;
  int64_t unknown_every_, island_every_, odom_every_;
  uint64_t max_firings_;
  bool evict_type_names_;
  int64_t timer_from_ns_;
  uint64_t firings_ = 0, topic_seq_ = 0;
  rs::TruthWriter truth_;
  tf2_ros::Buffer buffer_;
  tf2_ros::TransformListener listener_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<ros::Time> requests_;
  bool stop_ = false;
  std::thread broadcaster_thread_;
};
}  // namespace

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "tf_lookups");
  ros::NodeHandle nh, pnh("~");
  Lookups lookups(pnh);
  ros::Subscriber sub = pnh.subscribe<topic_tools::ShapeShifter>(
      "input", 100, boost::bind(&Lookups::on_input, &lookups, boost::placeholders::_1));
  ros::WallTimer timer = nh.createWallTimer(
      ros::WallDuration(rs::param_double(pnh, "period_ms", 50.0) / 1e3),
      &Lookups::on_timer, &lookups);
  ros::spin();
  timer.stop();
  lookups.finish();
  rs::final_log("tf_lookups: done");
  return 0;
}
