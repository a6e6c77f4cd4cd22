// Shared helpers for the rostrace scenario nodes.
//
// The scenario nodes are ground truth for the tracer: they time themselves with
// std::chrono::steady_clock (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns) and
// write one CSV row per message to ~truth_file. Nothing slow happens inside a
// measured region: rows are formatted after the region closes and appended to
// an in-memory buffer; a background thread writes the buffer out every 100 ms.
#pragma once

#include <ros/ros.h>
#include <ros/callback_queue.h>
#include <boost/bind/bind.hpp>
#include <boost/make_shared.hpp>
#include <rostrace/Payload.h>
#include <rostrace/StampedPayload.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/prctl.h>
#include <time.h>

namespace rostrace_scenarios
{

// ---------------------------------------------------------------- clock & work

inline int64_t mono_ns()
{
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Spins on steady_clock until ms milliseconds have elapsed.
inline void busy_work(double ms)
{
  if (ms <= 0.0)
    return;
  const int64_t end = mono_ns() + static_cast<int64_t>(ms * 1e6);
  while (mono_ns() < end)
  {
  }
}

inline void sleep_work(double ms)
{
  if (ms <= 0.0)
    return;
  std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<int64_t>(ms * 1e6)));
}

// Sleeps until the absolute CLOCK_MONOTONIC time deadline_ns (restarts on EINTR).
inline void sleep_until_ns(int64_t deadline_ns)
{
  timespec ts;
  ts.tv_sec = static_cast<time_t>(deadline_ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(deadline_ns % 1000000000LL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR)
  {
  }
}

enum class WorkMode
{
  Busy,
  Sleep
};

inline WorkMode parse_work_mode(const std::string& mode)
{
  if (mode == "busy")
    return WorkMode::Busy;
  if (mode == "sleep")
    return WorkMode::Sleep;
  ROS_WARN("unknown work_mode '%s' (expected busy|sleep), using busy", mode.c_str());
  return WorkMode::Busy;
}

inline const char* work_mode_name(WorkMode mode)
{
  return mode == WorkMode::Sleep ? "sleep" : "busy";
}

inline void do_work(double ms, WorkMode mode)
{
  if (mode == WorkMode::Sleep)
    sleep_work(ms);
  else
    busy_work(ms);
}

inline void do_work(double ms, const std::string& mode)
{
  do_work(ms, parse_work_mode(mode));
}

struct WorkSpec
{
  double ms;
  WorkMode mode;
  int64_t touch_pages = 0;    // fresh pages mapped, touched and unmapped per callback
  int64_t alloc_bytes = 0;    // malloc'ed (and freed) per callback
  std::string write_path;     // a line appended (write(2)) per callback
};

// Extra callback work for the root-cause scenarios: page faults, allocations and a
// blocking syscall, each one the node does itself, so tests know how many to expect.
inline void extra_work(const WorkSpec& w)
{
  if (w.touch_pages > 0) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t len = page * static_cast<size_t>(w.touch_pages);
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) {
      for (size_t off = 0; off < len; off += page)
        static_cast<volatile char*>(mem)[off] = 1;   // one fault per fresh page
      munmap(mem, len);
    }
  }
  if (w.alloc_bytes > 0) {
    volatile char* p = static_cast<volatile char*>(std::malloc(static_cast<size_t>(w.alloc_bytes)));
    if (p) {
      p[0] = 1;
      std::free(const_cast<char*>(p));
    }
  }
  if (!w.write_path.empty()) {
    const int fd = ::open(w.write_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      static const char line[] = "callback\n";
      ssize_t ignored = ::write(fd, line, sizeof(line) - 1);
      (void)ignored;
      ::close(fd);
    }
  }
}

// ------------------------------------------------------------------ parameters
// Private parameters may come from a launch file (typed) or from the command
// line (_name:=value). roscpp types command-line values as int, double, bool or
// string only, so lists also arrive as strings like "[1024,4096]" or "a,b":
// these readers accept every such form.

inline std::string xml_to_string(XmlRpc::XmlRpcValue& v)
{
  switch (v.getType())
  {
    case XmlRpc::XmlRpcValue::TypeString:
      return static_cast<std::string>(v);
    case XmlRpc::XmlRpcValue::TypeInt:
      return std::to_string(static_cast<int>(v));
    case XmlRpc::XmlRpcValue::TypeDouble:
    {
      std::ostringstream os;
      os << static_cast<double>(v);
      return os.str();
    }
    case XmlRpc::XmlRpcValue::TypeBoolean:
      return static_cast<bool>(v) ? "true" : "false";
    default:
      return "";
  }
}

inline double param_double(const ros::NodeHandle& nh, const std::string& key, double def)
{
  XmlRpc::XmlRpcValue v;
  if (!nh.getParam(key, v))
    return def;
  switch (v.getType())
  {
    case XmlRpc::XmlRpcValue::TypeDouble:
      return static_cast<double>(v);
    case XmlRpc::XmlRpcValue::TypeInt:
      return static_cast<int>(v);
    case XmlRpc::XmlRpcValue::TypeString:
      try
      {
        return std::stod(static_cast<std::string>(v));
      }
      catch (...)
      {
      }
      // fall through
    default:
      ROS_WARN("parameter ~%s: not a number, using %g", key.c_str(), def);
      return def;
  }
}

inline int64_t param_int(const ros::NodeHandle& nh, const std::string& key, int64_t def)
{
  XmlRpc::XmlRpcValue v;
  if (!nh.getParam(key, v))
    return def;
  switch (v.getType())
  {
    case XmlRpc::XmlRpcValue::TypeInt:
      return static_cast<int>(v);
    case XmlRpc::XmlRpcValue::TypeDouble:
      return static_cast<int64_t>(static_cast<double>(v));
    case XmlRpc::XmlRpcValue::TypeString:
      try
      {
        return static_cast<int64_t>(std::stod(static_cast<std::string>(v)));
      }
      catch (...)
      {
      }
      // fall through
    default:
      ROS_WARN("parameter ~%s: not an integer, using %" PRId64, key.c_str(), def);
      return def;
  }
}

inline bool param_bool(const ros::NodeHandle& nh, const std::string& key, bool def)
{
  XmlRpc::XmlRpcValue v;
  if (!nh.getParam(key, v))
    return def;
  switch (v.getType())
  {
    case XmlRpc::XmlRpcValue::TypeBoolean:
      return static_cast<bool>(v);
    case XmlRpc::XmlRpcValue::TypeInt:
      return static_cast<int>(v) != 0;
    case XmlRpc::XmlRpcValue::TypeString:
    {
      const std::string s = v;
      if (s == "true" || s == "True" || s == "1" || s == "yes")
        return true;
      if (s == "false" || s == "False" || s == "0" || s == "no")
        return false;
    }
      // fall through
    default:
      ROS_WARN("parameter ~%s: not a bool, using %s", key.c_str(), def ? "true" : "false");
      return def;
  }
}

inline std::string param_string(const ros::NodeHandle& nh, const std::string& key, const std::string& def)
{
  XmlRpc::XmlRpcValue v;
  if (!nh.getParam(key, v))
    return def;
  return xml_to_string(v);
}

// A list parameter as strings: a real list, or a string "[a, b]" / "a,b" / "a b".
// Returns def when unset; an empty list when set to an empty list/string.
inline std::vector<std::string> param_list(const ros::NodeHandle& nh, const std::string& key,
                                           const std::vector<std::string>& def)
{
  XmlRpc::XmlRpcValue v;
  if (!nh.getParam(key, v))
    return def;
  std::vector<std::string> out;
  if (v.getType() == XmlRpc::XmlRpcValue::TypeArray)
  {
    for (int i = 0; i < v.size(); ++i)
      out.push_back(xml_to_string(v[i]));
    return out;
  }
  std::string s = xml_to_string(v);
  for (char& c : s)
    if (c == '[' || c == ']' || c == ',' || c == '\'' || c == '"' || c == '\t')
      c = ' ';
  std::istringstream is(s);
  std::string item;
  while (is >> item)
    out.push_back(item);
  return out;
}

inline WorkSpec read_work(const ros::NodeHandle& pnh, double default_ms)
{
  WorkSpec w{ param_double(pnh, "work_ms", default_ms),
              parse_work_mode(param_string(pnh, "work_mode", "busy")) };
  w.touch_pages = param_int(pnh, "touch_pages", 0);
  w.alloc_bytes = param_int(pnh, "alloc_bytes", 0);
  w.write_path = param_string(pnh, "write_file", "");
  return w;
}

// ------------------------------------------------------------- signal handling

inline void request_shutdown_handler(int)
{
  // Only sets a flag; roscpp's poll thread then runs ros::shutdown() (this is
  // exactly what roscpp's own SIGINT handler does).
  ros::requestShutdown();
}

// ros::init with our own handler for SIGINT and SIGTERM (both -> clean
// shutdown, so the nodes can flush their truth files before exiting).
inline void init_node(int& argc, char** argv, const std::string& default_name)
{
  // 1 ns timer slack (inherited by every thread created later): sleeps wake on
  // time instead of up to 50 us late.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  // Line-buffered stdout: log lines reach a log file/pipe as they are printed.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ros::init(argc, argv, default_name, ros::init_options::NoSigintHandler);
  struct sigaction sa;
  sa.sa_handler = request_shutdown_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// ros::shutdown() also shuts rosconsole down, so ROS_INFO prints nothing
// afterwards: final summaries go through this, which falls back to stdout.
inline void final_log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void final_log(const char* fmt, ...)
{
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (!ros::isShuttingDown())
  {
    ROS_INFO("%s", line);
    return;
  }
  std::printf("[ INFO] [%.9f] (%s): %s\n", ros::WallTime::now().toSec(), ros::this_node::getName().c_str(), line);
  std::fflush(stdout);
}

// ---------------------------------------------------------------- truth writer

static const char* const kSubscriberHeader =
    "topic,seq,count,size,cb_start_ns,cb_end_ns,wait_ns,gap,stamp_age_ns";
static const char* const kPublisherHeader = "topic,seq,size,pub_start_ns,pub_end_ns";

// Thread-safe CSV writer. push() appends to a preallocated in-memory buffer
// under a mutex; a background thread writes the buffer to the file and fflush()es
// it every 100 ms; close() (and the destructor) stop that thread and flush the rest.
// With an empty path it is disabled and writes nothing.
class TruthWriter
{
public:
  TruthWriter(const std::string& path, const char* header, size_t reserve_bytes = 1 << 20) : path_(path)
  {
    if (path_.empty())
      return;
    file_ = std::fopen(path_.c_str(), "w");
    if (!file_)
    {
      ROS_FATAL("cannot open truth file '%s': %s", path_.c_str(), std::strerror(errno));
      std::exit(2);
    }
    std::fprintf(file_, "%s\n", header);
    std::fflush(file_);
    buf_.reserve(reserve_bytes);
    spare_.reserve(reserve_bytes);
    thread_ = std::thread(&TruthWriter::run, this);
  }

  ~TruthWriter()
  {
    close();
    if (file_)
      std::fclose(file_);
  }

  TruthWriter(const TruthWriter&) = delete;
  TruthWriter& operator=(const TruthWriter&) = delete;

  bool enabled() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }
  uint64_t rows() const { return rows_.load(std::memory_order_relaxed); }

  void push(const char* line, size_t len)
  {
    if (!file_)
      return;
    std::lock_guard<std::mutex> lock(mutex_);
    buf_.append(line, len);
    rows_.fetch_add(1, std::memory_order_relaxed);
  }

  // printf-style row; a newline is appended.
  void row(const char* fmt, ...) __attribute__((format(printf, 2, 3)))
  {
    if (!file_)
      return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
      return;
    if (static_cast<size_t>(n) < sizeof(line) - 1)
    {
      line[n] = '\n';
      push(line, n + 1);
      return;
    }
    std::vector<char> big(n + 2);
    va_start(ap, fmt);
    std::vsnprintf(big.data(), n + 1, fmt, ap);
    va_end(ap);
    big[n] = '\n';
    push(big.data(), n + 1);
  }

  // Stops the flush thread and writes out everything buffered so far. Rows
  // pushed later are written by the destructor.
  void close()
  {
    if (!file_)
      return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
    flush();
  }

private:
  void flush()
  {
    std::lock_guard<std::mutex> io(io_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (buf_.empty())
        return;
      buf_.swap(spare_);  // O(1); both keep their capacity
    }
    std::fwrite(spare_.data(), 1, spare_.size(), file_);
    std::fflush(file_);
    spare_.clear();
  }

  void run()
  {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_)
    {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (stop_)
        break;
      lock.unlock();
      flush();
      lock.lock();
    }
  }

  std::string path_;
  FILE* file_ = nullptr;
  std::mutex mutex_;     // guards buf_ and stop_
  std::mutex io_mutex_;  // serializes flush()
  std::condition_variable cv_;
  std::string buf_, spare_;
  bool stop_ = false;
  std::atomic<uint64_t> rows_{ 0 };
  std::thread thread_;
};

// stamp_age_ns: roscpp's receipt time - header.stamp (-1: the type has no header).
inline void write_subscriber_row(TruthWriter& w, const std::string& topic, uint64_t seq, uint64_t count,
                                 uint64_t size, int64_t cb_start_ns, int64_t cb_end_ns, int64_t wait_ns,
                                 int64_t gap, int64_t stamp_age_ns = -1)
{
  w.row("%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
        topic.c_str(), seq, count, size, cb_start_ns, cb_end_ns, wait_ns, gap, stamp_age_ns);
}

template <class M>
inline int64_t stamp_age_ns(const M&, const ros::Time&)
{
  return -1;
}
inline int64_t stamp_age_ns(const rostrace::StampedPayload& m, const ros::Time& receipt)
{
  return (receipt - m.header.stamp).toNSec();
}

inline void write_publisher_row(TruthWriter& w, const std::string& topic, uint64_t seq, uint64_t size,
                                int64_t pub_start_ns, int64_t pub_end_ns)
{
  w.row("%s,%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRId64, topic.c_str(), seq, size, pub_start_ns, pub_end_ns);
}

// ------------------------------------------------------- subscriber callbacks

// Per-topic state of one subscription. Only that subscription's callback
// touches it, and roscpp never runs it concurrently with itself
// (allow_concurrent_callbacks = false); read by finish() after spinning stopped.
struct TopicStats
{
  std::string topic;  // resolved name
  uint64_t count = 0;
  uint64_t last_seq = 0;
  uint64_t gaps = 0;
  int64_t cb_ns_total = 0;
  int64_t cb_ns_max = 0;
  int64_t wait_ns_max = 0;
};

template <class M>
class PayloadSink : public TopicStats
{
public:
  PayloadSink(const std::string& resolved_topic, WorkSpec work, TruthWriter* truth) : work_(work), truth_(truth)
  {
    topic = resolved_topic;
  }

  void callback(const ros::MessageEvent<M const>& event)
  {
    const int64_t cb_start = mono_ns();
    const int64_t wait_ns = (ros::Time::now() - event.getReceiptTime()).toNSec();
    const M& msg = *event.getConstMessage();
    if (!msg.data.empty())  // touch the payload minimally
      touched_ = msg.data.front() ^ msg.data.back();
    do_work(work_.ms, work_.mode);
    extra_work(work_);
    const int64_t cb_end = mono_ns();

    // Bookkeeping and the truth row: after the measured region.
    const uint64_t seq = msg.seq;
    const int64_t gap = (count > 0 && seq > last_seq) ? static_cast<int64_t>(seq - last_seq - 1) : 0;
    ++count;
    last_seq = seq;
    gaps += gap;
    cb_ns_total += cb_end - cb_start;
    cb_ns_max = std::max(cb_ns_max, cb_end - cb_start);
    wait_ns_max = std::max(wait_ns_max, wait_ns);
    if (truth_ && truth_->enabled())
      write_subscriber_row(*truth_, topic, seq, count, msg.data.size(), cb_start, cb_end, wait_ns, gap,
                           stamp_age_ns(msg, event.getReceiptTime()));
  }

private:
  WorkSpec work_;
  TruthWriter* truth_;
  volatile uint8_t touched_ = 0;
};

// Subscribes topic with a PayloadSink<M> callback (MessageEvent signature, so
// the receipt time is available). queue == nullptr -> global callback queue.
template <class M>
boost::shared_ptr<TopicStats> subscribe_payload(ros::NodeHandle& nh, const std::string& topic, uint32_t queue_size,
                                                WorkSpec work, TruthWriter* truth, ros::Subscriber& sub_out,
                                                ros::CallbackQueueInterface* queue = nullptr,
                                                const ros::TransportHints& hints = ros::TransportHints())
{
  auto sink = boost::make_shared<PayloadSink<M>>(nh.resolveName(topic), work, truth);
  ros::SubscribeOptions ops;
  ops.template initByFullCallbackType<const ros::MessageEvent<M const>&>(
      topic, queue_size, boost::bind(&PayloadSink<M>::callback, sink, boost::placeholders::_1));
  ops.callback_queue = queue;
  ops.transport_hints = hints;
  ops.allow_concurrent_callbacks = false;
  sub_out = nh.subscribe(ops);
  return sink;
}

// Common skeleton of the subscriber scenario nodes (2-6): ~stamped selects
// Payload or StampedPayload, ~truth_file the truth CSV.
struct SubscriberNode
{
  ros::NodeHandle nh;
  ros::NodeHandle pnh{ "~" };
  bool stamped;
  TruthWriter truth;
  std::vector<ros::Subscriber> subs;
  std::vector<boost::shared_ptr<TopicStats>> stats;

  SubscriberNode()
    : stamped(param_bool(pnh, "stamped", false))
    , truth(param_string(pnh, "truth_file", ""), kSubscriberHeader)
  {
  }

  const std::string& subscribe(const std::string& topic, int queue_size, WorkSpec work,
                               ros::CallbackQueueInterface* queue = nullptr,
                               const ros::TransportHints& hints = ros::TransportHints())
  {
    subs.emplace_back();
    const uint32_t q = static_cast<uint32_t>(std::max(queue_size, 0));
    stats.push_back(stamped ? subscribe_payload<rostrace::StampedPayload>(nh, topic, q, work, &truth, subs.back(),
                                                                          queue, hints) :
                              subscribe_payload<rostrace::Payload>(nh, topic, q, work, &truth, subs.back(), queue,
                                                                   hints));
    return stats.back()->topic;
  }

  const char* type_name() const { return stamped ? "rostrace/StampedPayload" : "rostrace/Payload"; }
  const char* truth_desc() const { return truth.enabled() ? truth.path().c_str() : "(none)"; }

  // Call once the callbacks can no longer run: logs a summary, flushes the truth file.
  void finish()
  {
    subs.clear();
    truth.close();
    for (const auto& s : stats)
      final_log("summary %s: received %" PRIu64 " last_seq %" PRIu64 " inferred_drops %" PRIu64
                " mean_cb_ms %.3f max_cb_ms %.3f max_wait_ms %.3f",
                s->topic.c_str(), s->count, s->last_seq, s->gaps,
                s->count ? s->cb_ns_total / 1e6 / s->count : 0.0, s->cb_ns_max / 1e6, s->wait_ns_max / 1e6);
    if (truth.enabled())
      final_log("truth: %" PRIu64 " rows written to %s", truth.rows(), truth.path().c_str());
  }
};

}  // namespace rostrace_scenarios
