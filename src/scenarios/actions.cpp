// actions: an actionlib server or client (actionlib/Test: int32 goal, result, feedback)
// with known timing.
//   ~role server: serves ~action; each goal is accepted ~accept_ms after its goal
//     callback, then gets ~feedbacks feedbacks every ~feedback_ms, then a result
//     (succeeded; preempted when a cancel came first).
//   ~role client: sends ~goals goals to ~action one after another (after ~start_delay s),
//     each once the previous one has its result; goal number ~cancel_goal (0: none) is
//     cancelled right after its first feedback.
// Ground truth (steady_clock, ns): the server writes one row per goal: its id, goal
// callback, accepted, first and last feedback, feedbacks, result, outcome; the client
// one row per goal: its number, sent, active (the client saw it accepted), first and
// last feedback, feedbacks, result (seen), outcome.
#include "scenario_common.h"

#include <actionlib/TestAction.h>
#include <actionlib/client/action_client.h>
#include <actionlib/server/action_server.h>
#include <condition_variable>

namespace rs = rostrace_scenarios;

namespace
{
const char* const kHeader = "goal_id,start_ns,active_ns,first_feedback_ns,last_feedback_ns,"
                            "feedbacks,result_ns,outcome";

struct GoalTruth
{
  std::string id;
  int64_t start = 0, active = 0, first_feedback = 0, last_feedback = 0, result = 0;
  int feedbacks = 0;
  std::string outcome;
};

void write_row(rs::TruthWriter& w, const GoalTruth& g)
{
  w.row("%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,%" PRId64 ",%s", g.id.c_str(),
        g.start, g.active, g.first_feedback, g.last_feedback, g.feedbacks, g.result,
        g.outcome.c_str());
}

class Server
{
  typedef actionlib::ActionServer<actionlib::TestAction> ActionServer;
  typedef ActionServer::GoalHandle GoalHandle;

public:
  Server(ros::NodeHandle& nh, ros::NodeHandle& pnh)
    : accept_s_(rs::param_double(pnh, "accept_ms", 50.0) / 1e3)
    , feedback_s_(rs::param_double(pnh, "feedback_ms", 20.0) / 1e3)
    , feedbacks_(static_cast<int>(rs::param_int(pnh, "feedbacks", 5)))
    , truth_(rs::param_string(pnh, "truth_file", ""), kHeader)
    , server_(nh, rs::param_string(pnh, "action", "work"), false)
    , worker_(&Server::work, this)
  {
    server_.registerGoalCallback(boost::bind(&Server::on_goal, this, boost::placeholders::_1));
    server_.registerCancelCallback(boost::bind(&Server::on_cancel, this, boost::placeholders::_1));
    server_.start();
  }

  void finish()
  {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    if (worker_.joinable())
      worker_.join();
    truth_.close();
  }

private:
  void on_goal(GoalHandle gh)
  {
    const int64_t now = rs::mono_ns();
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::make_pair(gh, now));
    wake_.notify_one();
  }

  void on_cancel(GoalHandle gh)
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.insert(gh.getGoalID().id);
  }

  bool cancelled(const std::string& id)
  {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_.count(id) > 0;
  }

  // One goal at a time, on a thread of its own (ActionServer's callbacks must return).
  void work()
  {
    while (true)
    {
      std::pair<GoalHandle, int64_t> next;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_)
          return;
        next = queue_.front();
        queue_.pop_front();
      }
      GoalHandle gh = next.first;
      GoalTruth g;
      g.id = gh.getGoalID().id;
      g.start = next.second;
      rs::sleep_until_ns(g.start + static_cast<int64_t>(accept_s_ * 1e9));
      g.active = rs::mono_ns();
      gh.setAccepted();
      int64_t deadline = g.active;
      bool preempted = false;
      for (int i = 0; i < feedbacks_ && !preempted; ++i)
      {
        deadline += static_cast<int64_t>(feedback_s_ * 1e9);
        rs::sleep_until_ns(deadline);
        actionlib::TestFeedback feedback;
        feedback.feedback = i;
        const int64_t t = rs::mono_ns();
        gh.publishFeedback(feedback);
        if (!g.feedbacks)
          g.first_feedback = t;
        g.last_feedback = t;
        ++g.feedbacks;
        preempted = cancelled(g.id);
      }
      actionlib::TestResult result;
      result.result = g.feedbacks;
      g.result = rs::mono_ns();
      if (preempted)
      {
        g.outcome = "preempted";
        gh.setCanceled(result);
      }
      else
      {
        g.outcome = "succeeded";
        gh.setSucceeded(result);
      }
      write_row(truth_, g);
    }
  }

  double accept_s_, feedback_s_;
  int feedbacks_;
  rs::TruthWriter truth_;
  ActionServer server_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<GoalHandle, int64_t>> queue_;
  std::set<std::string> cancelled_;
  bool stop_ = false;
  std::thread worker_;
};

class Client
{
  typedef actionlib::ActionClient<actionlib::TestAction> ActionClient;
  typedef ActionClient::GoalHandle GoalHandle;

public:
  Client(ros::NodeHandle& nh, ros::NodeHandle& pnh)
    : goals_(rs::param_int(pnh, "goals", 10))
    , cancel_goal_(rs::param_int(pnh, "cancel_goal", 0))
    , start_delay_(rs::param_double(pnh, "start_delay", 0.0))
    , truth_(rs::param_string(pnh, "truth_file", ""), kHeader)
    , client_(nh, rs::param_string(pnh, "action", "work"))
  {
  }

  void run()
  {
    while (ros::ok() && !client_.waitForActionServerToStart(ros::Duration(0.5)))
    {
    }
    ros::WallDuration(start_delay_).sleep();
    for (int64_t i = 1; i <= goals_ && ros::ok(); ++i)
    {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        current_ = GoalTruth();
        number_ = i;
        done_ = false;
      }
      actionlib::TestGoal goal;
      goal.goal = static_cast<int32_t>(i);
      const int64_t start = rs::mono_ns();
      GoalHandle gh = client_.sendGoal(
          goal, boost::bind(&Client::on_transition, this, boost::placeholders::_1),
          boost::bind(&Client::on_feedback, this, boost::placeholders::_1, boost::placeholders::_2));
      {
        std::unique_lock<std::mutex> lock(mutex_);
        current_.start = start;
        current_.id = std::to_string(i);
        while (!done_ && ros::ok())
          wake_.wait_for(lock, std::chrono::milliseconds(100));
        write_row(truth_, current_);
      }
    }
    truth_.close();
    rs::final_log("actions client: %" PRId64 " goals done", goals_);
  }

private:
  void on_transition(GoalHandle gh)
  {
    const int64_t now = rs::mono_ns();
    std::lock_guard<std::mutex> lock(mutex_);
    const actionlib::CommState state = gh.getCommState();
    if (state == actionlib::CommState::ACTIVE && !current_.active)
      current_.active = now;
    if (state == actionlib::CommState::DONE && !done_)
    {
      current_.result = now;
      const actionlib::TerminalState t = gh.getTerminalState();
      current_.outcome = t == actionlib::TerminalState::SUCCEEDED ? "succeeded"
                       : t == actionlib::TerminalState::PREEMPTED ? "preempted"
                       : t.toString();
      done_ = true;
      wake_.notify_one();
    }
  }

  void on_feedback(GoalHandle gh, const actionlib::TestFeedbackConstPtr&)
  {
    const int64_t now = rs::mono_ns();
    bool cancel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!current_.feedbacks)
        current_.first_feedback = now;
      current_.last_feedback = now;
      ++current_.feedbacks;
      cancel = number_ == cancel_goal_ && current_.feedbacks == 1;
    }
    if (cancel)     // outside the lock: cancel() calls on_transition at once
      gh.cancel();
  }

  int64_t goals_, cancel_goal_;
  double start_delay_;
  rs::TruthWriter truth_;
  ActionClient client_;
  std::mutex mutex_;
  std::condition_variable wake_;
  GoalTruth current_;
  int64_t number_ = 0;
  bool done_ = false;
};
}  // namespace

int main(int argc, char** argv)
{
  rs::init_node(argc, argv, "actions");
  ros::NodeHandle nh, pnh("~");
  const std::string role = rs::param_string(pnh, "role", "server");
  // One spinner thread: the client's status, feedback and result callbacks in order.
  ros::AsyncSpinner spinner(role == "server" ? 2 : 1);
  spinner.start();
  if (role == "server")
  {
    Server server(nh, pnh);
    ros::waitForShutdown();
    server.finish();
  }
  else
  {
    Client client(nh, pnh);
    client.run();
    ros::waitForShutdown();
  }
  return 0;
}
