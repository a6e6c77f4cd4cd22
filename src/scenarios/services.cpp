// services: ~role server advertises ~service (rostrace/Work): its handler sleeps the
// requested work_ms, then returns false or throws when asked. ~role client calls it
// ~count times at ~rate Hz (~persistent or not) asking ~work_ms, every ~fail_every-th
// call with fail set and every ~throw_every-th with throw_error set (0: never), after
// ~start_delay s. Ground truth (steady_clock, ns): the server writes
// seq,start_ns,end_ns,outcome per request (0 ok, 1 returned false, 2 threw); the client
// seq,start_ns,end_ns,ok per call.
#include "scenario_common.h"

#include <rostrace/Work.h>
#include <stdexcept>

namespace rs = rostrace_scenarios;

namespace
{
class Server
{
public:
  explicit Server(const std::string& truth) : truth_(truth, "seq,start_ns,end_ns,outcome") {}

  bool handle(rostrace::Work::Request& req, rostrace::Work::Response& res)
  {
    const int64_t start = rs::mono_ns();
    ++seq_;
    rs::do_work(req.work_ms, rs::WorkMode::Sleep);
    res.start_ns = start;
    res.end_ns = rs::mono_ns();
    const int outcome = req.throw_error ? 2 : req.fail ? 1 : 0;
    char line[160];
    const int n = std::snprintf(line, sizeof(line), "%" PRIu64 ",%" PRId64 ",%" PRId64 ",%d\n",
                                seq_, start, res.end_ns, outcome);
    truth_.push(line, static_cast<size_t>(n));
    if (req.throw_error)
      throw std::runtime_error("asked to throw");
    return !req.fail;
  }

  void finish() { truth_.close(); }

private:
  uint64_t seq_ = 0;
  rs::TruthWriter truth_;
};
}  // namespace

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "services");
  ros::NodeHandle nh, pnh("~");
  const std::string role = rs::param_string(pnh, "role", "server");
  const std::string service = rs::param_string(pnh, "service", "/work");
  const std::string truth = rs::param_string(pnh, "truth_file", "");
  if (role == "server")
  {
    Server server(truth);
    ros::ServiceServer srv = nh.advertiseService(service, &Server::handle, &server);
    ROS_INFO("services: serving %s", service.c_str());
    ros::spin();
    server.finish();
    return 0;
  }
  const bool persistent = rs::param_bool(pnh, "persistent", false);
  const int64_t count = rs::param_int(pnh, "count", 100);
  const double rate = rs::param_double(pnh, "rate", 20.0);
  const int64_t fail_every = rs::param_int(pnh, "fail_every", 0);
  const int64_t throw_every = rs::param_int(pnh, "throw_every", 0);
  const double work_ms = rs::param_double(pnh, "work_ms", 5.0);
  rs::TruthWriter out(truth, "seq,start_ns,end_ns,ok");
  ros::service::waitForService(service);
  ros::WallDuration(rs::param_double(pnh, "start_delay", 0.0)).sleep();
  ros::ServiceClient client = nh.serviceClient<rostrace::Work>(service, persistent);
  ros::WallRate r(rate);
  for (int64_t i = 1; i <= count && ros::ok(); ++i)
  {
    rostrace::Work w;
    w.request.work_ms = work_ms;
    w.request.fail = fail_every > 0 && i % fail_every == 0;
    w.request.throw_error = throw_every > 0 && i % throw_every == 0;
    const int64_t start = rs::mono_ns();
    const bool ok = client.call(w);
    const int64_t end = rs::mono_ns();
    char line[160];
    const int n = std::snprintf(line, sizeof(line), "%" PRId64 ",%" PRId64 ",%" PRId64 ",%d\n",
                                i, start, end, ok ? 1 : 0);
    out.push(line, static_cast<size_t>(n));
    r.sleep();
  }
  out.close();
  ROS_INFO("services: %" PRId64 " calls done", count);
  while (ros::ok())
    ros::WallDuration(0.1).sleep();
  return 0;
}
