// multi_threaded: an AsyncSpinner with ~threads threads serves ~topics on the
// global callback queue; ~custom_topic is attached to a custom CallbackQueue
// served by its own thread. Callbacks of different topics run concurrently.
#include "scenario_common.h"

namespace rs = rostrace_scenarios;

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "multi_threaded");
  rs::SubscriberNode node;
  const int threads = static_cast<int>(rs::param_int(node.pnh, "threads", 4));
  const std::vector<std::string> topics = rs::param_list(node.pnh, "topics", { "/mt/a", "/mt/b" });
  const std::string custom_topic = rs::param_string(node.pnh, "custom_topic", "/mt/c");
  const int queue_size = static_cast<int>(rs::param_int(node.pnh, "queue_size", 100));
  const rs::WorkSpec work = rs::read_work(node.pnh, 2.0);

  std::string global_list;
  for (const std::string& t : topics)
    global_list += (global_list.empty() ? "" : ",") + node.subscribe(t, queue_size, work);
  ros::CallbackQueue custom_queue;
  std::string custom_resolved = "(none)";
  if (!custom_topic.empty())
    custom_resolved = node.subscribe(custom_topic, queue_size, work, &custom_queue);

  ROS_INFO("multi_threaded: AsyncSpinner(%d) on global queue for [%s], custom queue thread for %s [%s] "
           "queue_size=%d, callbacks do %.3f ms of %s work; truth_file=%s",
           threads, global_list.c_str(), custom_resolved.c_str(), node.type_name(), queue_size, work.ms,
           rs::work_mode_name(work.mode), node.truth_desc());

  ros::AsyncSpinner spinner(threads);
  spinner.start();
  std::thread custom_thread([&custom_queue]() {
    while (ros::ok())
      custom_queue.callAvailable(ros::WallDuration(0.01));
  });
  ros::waitForShutdown();
  spinner.stop();
  custom_thread.join();
  node.finish();
  return 0;
}
