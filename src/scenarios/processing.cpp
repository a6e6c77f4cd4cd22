// processing: one subscription whose callback does ~work_ms of busy or sleep work.
#include "scenario_common.h"

#include <atomic>
#include <thread>
#include <vector>

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "processing");
  rs::SubscriberNode node;
  const std::string topic = rs::param_string(node.pnh, "topic", "/processing/data");
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 10));
  const rs::WorkSpec work = rs::read_work(node.pnh, 5.0);
  // busy_threads: threads of this process that only spin (SCHED_OTHER), competing with
  // roscpp's own threads for whatever CPU the process may use.
  const int64_t busy_threads = rs::param_int(node.pnh, "busy_threads", 0);
  std::atomic<bool> spinning{ true };
  std::vector<std::thread> busy;
  for (int64_t i = 0; i < busy_threads; ++i)
    busy.emplace_back([&spinning] {
      volatile uint64_t n = 0;
      while (spinning.load(std::memory_order_relaxed))
        n = n + 1;
    });

  const std::string& resolved = node.subscribe(topic, queue_size, work);
  ROS_INFO("processing: subscribing %s [%s] queue_size=%d, callback does %.3f ms of %s work; truth_file=%s",
           resolved.c_str(), node.type_name(), queue_size, work.ms, rs::work_mode_name(work.mode), node.truth_desc());
  ros::spin();
  spinning = false;
  for (auto& t : busy)
    t.join();
  node.finish();
  return 0;
}
