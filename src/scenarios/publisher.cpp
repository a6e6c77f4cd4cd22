// publisher: publishes rostrace/Payload (or StampedPayload) at ~rate Hz with
// seq = 1, 2, ... and sent_ns = CLOCK_MONOTONIC right before publish(); sizes
// come from ~size or the ~sizes ladder. Paced on absolute CLOCK_MONOTONIC
// deadlines (clock_nanosleep TIMER_ABSTIME), so it holds rates of several kHz.
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

namespace
{
struct Config
{
  std::string topic;
  double rate;
  std::vector<int64_t> sizes;  // ladder; one entry when ~sizes is unset
  int64_t repeat;              // messages per ladder step
  uint64_t count;              // 0 = unlimited
  int queue_size;
  int64_t wait_subscribers;
  double start_delay;          // s between the subscribers being there and the first message
  bool shared_ptr;             // publish a boost::shared_ptr (roscpp's no-copy intra-process path)
  double stamp_offset_ms;      // header.stamp = now + this (a clock ahead, when > 0)
};

inline void stamp(rostrace::Payload&, double)
{
}
inline void stamp(rostrace::StampedPayload& m, double offset_ms)
{
  m.header.stamp = ros::Time::now() + ros::Duration(offset_ms * 1e-3);
}

template <class M>
void run(ros::NodeHandle& nh, const Config& cfg, rs::TruthWriter& truth)
{
  ros::Publisher pub = nh.advertise<M>(cfg.topic, cfg.queue_size);
  const std::string topic = pub.getTopic();

  if (cfg.wait_subscribers > 0)
  {
    ROS_INFO("publisher: waiting for %" PRId64 " subscriber(s) on %s", cfg.wait_subscribers, topic.c_str());
    while (ros::ok() && static_cast<int64_t>(pub.getNumSubscribers()) < cfg.wait_subscribers)
      ros::WallDuration(0.01).sleep();
    ros::WallDuration(cfg.start_delay).sleep();  // let the connections come fully up
    if (!ros::ok())
      return;
  }

  const int64_t period = cfg.rate > 0 ? static_cast<int64_t>(1e9 / cfg.rate) : 0;
  // Late by up to max_lag: catch up (keeps the mean rate through scheduler hiccups).
  const int64_t max_lag = std::max<int64_t>(10 * period, 50000000);
  M msg;
  uint64_t seq = 0;
  int64_t pub_ns_total = 0, pub_ns_max = 0, first_ns = 0, last_ns = 0;
  int64_t next = rs::mono_ns();

  while (ros::ok() && (cfg.count == 0 || seq < cfg.count))
  {
    const size_t size = static_cast<size_t>(cfg.sizes[(seq / cfg.repeat) % cfg.sizes.size()]);
    if (msg.data.size() != size)
      msg.data.assign(size, 0xA5);
    ++seq;
    msg.seq = seq;
    stamp(msg, cfg.stamp_offset_ms);

    boost::shared_ptr<M> shared;
    if (cfg.shared_ptr)
      shared = boost::make_shared<M>(msg);  // a fresh message per publish, as nodelets do
    const int64_t t0 = rs::mono_ns();
    if (shared)
    {
      shared->sent_ns = t0;
      pub.publish(shared);
    }
    else
    {
      msg.sent_ns = t0;
      pub.publish(msg);
    }
    const int64_t t1 = rs::mono_ns();

    rs::write_publisher_row(truth, topic, seq, size, t0, t1);
    if (seq == 1)
      first_ns = t0;
    last_ns = t0;
    pub_ns_total += t1 - t0;
    pub_ns_max = std::max(pub_ns_max, t1 - t0);

    if (period > 0)
    {
      next += period;
      const int64_t now = rs::mono_ns();
      if (now - next > max_lag)
        next = now;  // far behind (e.g. after a huge message): resume the rate, no long burst
      else if (next > now)
        rs::sleep_until_ns(next);
    }
  }

  truth.close();  // every row is in the file before "published N" is logged; the node stays alive
  const double span = (last_ns - first_ns) / 1e9;
  rs::final_log("published %" PRIu64 " messages on %s in %.3f s (%.1f msg/s), publish() mean %.1f us max %.1f us",
                 seq, topic.c_str(), span, (seq > 1 && span > 0) ? (seq - 1) / span : 0.0,
                 seq ? pub_ns_total / 1e3 / seq : 0.0, pub_ns_max / 1e3);
  while (ros::ok())
    ros::WallDuration(0.05).sleep();
}
}  // namespace

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "publisher");
  ros::NodeHandle nh;
  ros::NodeHandle pnh("~");

  Config cfg;
  cfg.topic = rs::param_string(pnh, "topic", "/scenario/data");
  cfg.rate = rs::param_double(pnh, "rate", 10.0);
  const int64_t size = rs::param_int(pnh, "size", 64);
  for (const std::string& s : rs::param_list(pnh, "sizes", {}))
  {
    try
    {
      cfg.sizes.push_back(static_cast<int64_t>(std::stod(s)));
    }
    catch (...)
    {
      ROS_WARN("publisher: ignoring bad ~sizes entry '%s'", s.c_str());
    }
  }
  const bool ladder = !cfg.sizes.empty();
  if (!ladder)
    cfg.sizes.push_back(size);
  for (int64_t& s : cfg.sizes)
    s = std::max<int64_t>(s, 0);
  cfg.repeat = std::max<int64_t>(rs::param_int(pnh, "repeat", 20), 1);
  cfg.count = static_cast<uint64_t>(std::max<int64_t>(rs::param_int(pnh, "count", 0), 0));
  cfg.stamp_offset_ms = rs::param_double(pnh, "stamp_offset_ms", 0.0);
  const bool stamped = rs::param_bool(pnh, "stamped", false);
  cfg.queue_size = static_cast<int>(rs::param_int(pnh, "queue_size", 100));
  cfg.wait_subscribers = rs::param_int(pnh, "wait_subscribers", 0);
  cfg.start_delay = std::max(rs::param_double(pnh, "start_delay", 0.5), 0.0);
  cfg.shared_ptr = rs::param_bool(pnh, "shared_ptr", false);
  // ~self_subscribe: the node also subscribes to its own topic (intra-process delivery,
  // roscpp's no-copy path); its callbacks write ~self_truth_file like a subscriber's.
  const bool self_subscribe = rs::param_bool(pnh, "self_subscribe", false);
  rs::TruthWriter self_truth(rs::param_string(pnh, "self_truth_file", ""), rs::kSubscriberHeader);
  ros::Subscriber self_sub;
  boost::shared_ptr<rs::TopicStats> self_stats;
  ros::AsyncSpinner spinner(1);
  if (self_subscribe)
  {
    const rs::WorkSpec no_work{ 0.0, rs::WorkMode::Busy };
    self_stats = stamped ? rs::subscribe_payload<rostrace::StampedPayload>(nh, cfg.topic, 1000, no_work, &self_truth, self_sub) :
                           rs::subscribe_payload<rostrace::Payload>(nh, cfg.topic, 1000, no_work, &self_truth, self_sub);
    spinner.start();
  }
  rs::TruthWriter truth(rs::param_string(pnh, "truth_file", ""), rs::kPublisherHeader);

  std::string sizes_desc;
  for (int64_t s : cfg.sizes)
    sizes_desc += (sizes_desc.empty() ? "" : ",") + std::to_string(s);
  sizes_desc = ladder ? "ladder [" + sizes_desc + "] x" + std::to_string(cfg.repeat) + " each" :
                        sizes_desc + " bytes";
  ROS_INFO("publisher: %s on %s at %.1f Hz, size %s, count %" PRIu64 "%s, queue_size %d, "
           "wait_subscribers %" PRId64 ", truth_file %s",
           stamped ? "rostrace/StampedPayload" : "rostrace/Payload", nh.resolveName(cfg.topic).c_str(), cfg.rate,
           sizes_desc.c_str(), cfg.count, cfg.count ? "" : " (unlimited)", cfg.queue_size, cfg.wait_subscribers,
           truth.enabled() ? truth.path().c_str() : "(none)");

  if (stamped)
    run<rostrace::StampedPayload>(nh, cfg, truth);
  else
    run<rostrace::Payload>(nh, cfg, truth);
  truth.close();
  spinner.stop();
  self_sub.shutdown();
  self_truth.close();
  return 0;
}
