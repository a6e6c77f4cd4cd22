// nodelets: a nodelet manager (nodelet::Loader with its own create function: Debian's
// pluginlib is ROS 2's, so no plugin lookup) loading WorkNodelets. Each nodelet subscribes
// one topic on its own (single-threaded) nodelet queue and busy-works a known time per
// message; each writes its own truth file.
//
//   ~nodelets: list of "name:topic:work_ms" (name resolved like a node name)
//   ~late_nodelets, ~late_delay: more of them, loaded late_delay seconds after the first
//   ~truth_file: prefix; nodelet `name` writes <prefix>.<last name segment>.csv
#include "scenario_common.h"

#include <nodelet/loader.h>
#include <nodelet/nodelet.h>

namespace rs = rostrace_scenarios;

namespace rostrace_scenarios
{
class WorkNodelet : public nodelet::Nodelet
{
public:
  ~WorkNodelet() override
  {
    sub_.shutdown();
    if (truth_)
      truth_->close();
  }

private:
  void onInit() override
  {
    const std::vector<std::string>& argv = getMyArgv();
    if (argv.size() != 3)
    {
      NODELET_ERROR("WorkNodelet needs 3 arguments (topic work_ms truth_file), got %zu", argv.size());
      return;
    }
    truth_.reset(new TruthWriter(argv[2], kSubscriberHeader));
    const WorkSpec work{ std::stod(argv[1]), WorkMode::Busy };
    stats_ = subscribe_payload<rostrace::Payload>(getNodeHandle(), argv[0], 100, work, truth_.get(), sub_);
    NODELET_INFO("nodelet %s: subscribing %s, callback does %.3f ms of busy work; truth_file=%s",
                 getName().c_str(), stats_->topic.c_str(), work.ms, argv[2].c_str());
  }

  boost::shared_ptr<TruthWriter> truth_;
  boost::shared_ptr<TopicStats> stats_;
  ros::Subscriber sub_;
};
}  // namespace rostrace_scenarios

static boost::shared_ptr<nodelet::Nodelet> create(const std::string& type)
{
  if (type != "rostrace/WorkNodelet")
    throw std::runtime_error("unknown nodelet type " + type);
  return boost::make_shared<rs::WorkNodelet>();
}

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "nodelets");
  ros::NodeHandle pnh("~");
  const std::string truth = rs::param_string(pnh, "truth_file", "");
  const boost::function<boost::shared_ptr<nodelet::Nodelet>(const std::string&)> create_fn(&create);
  nodelet::Loader loader(create_fn);
  auto load = [&](const std::string& spec) {
    const size_t a = spec.find(':'), b = spec.rfind(':');
    if (a == std::string::npos || a == b)
    {
      ROS_FATAL("nodelets: bad entry '%s' (want name:topic:work_ms)", spec.c_str());
      return false;
    }
    const std::string name = ros::names::resolve(spec.substr(0, a));
    const std::string file = truth.empty() ? "" : truth + "." + name.substr(name.rfind('/') + 1) + ".csv";
    if (loader.load(name, "rostrace/WorkNodelet", ros::M_string(),
                    { spec.substr(a + 1, b - a - 1), spec.substr(b + 1), file }))
      return true;
    ROS_FATAL("nodelets: loading %s failed", name.c_str());
    return false;
  };
  for (const std::string& spec : rs::param_list(pnh, "nodelets", {}))
    if (!load(spec))
      return 1;
  const std::vector<std::string> late = rs::param_list(pnh, "late_nodelets", {});
  if (!late.empty())
  {
    ros::WallDuration(rs::param_double(pnh, "late_delay", 5.0)).sleep();
    for (const std::string& spec : late)
      if (!load(spec))
        return 1;
  }
  ROS_INFO("nodelets: loaded %zu nodelets", loader.listLoadedNodelets().size());
  ros::spin();
  loader.clear();
  return 0;
}
