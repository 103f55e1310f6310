// Several hosts as network namespaces: the scheduler and two workers each
// in their own namespace, joined by veth links to a bridge (in a namespace
// of its own), the client in this process. Mid-run one worker's host is
// cut off (its bridge port goes down: no FIN, no RST, packets just vanish):
// the scheduler notices the silence, reruns that worker's tasks on the
// other, and the answer is exact. When the link comes back the worker
// reconnects and takes tasks again; cut off for good, it exits after its
// death timeout. Needs root and iproute2; skipped (with the reason) without.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "skein/api/client.h"
#include "skein/api/delayed.h"
#include "skein/distributed/security.h"
#include "skein/distributed/session.h"

extern char** environ;

namespace skein {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr double kWait = 60;

// Runs a shell command; its exit status.
int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// A child process: `argv` with output to `log`. Killed on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log) : log_(log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("could not start " + argv[0]);
  }
  ~Child() {
    if (exited_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  // True once the process has exited, waiting at most `seconds`.
  bool ExitsWithin(double seconds) {
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (!exited_ && Clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
      else std::this_thread::sleep_for(50ms);
    }
    return exited_;
  }
  std::string Log() const {
    std::ifstream f(log_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string log_;
};

// The namespaces and links; everything is removed on destruction.
class Hosts {
 public:
  Hosts() : tag_("sk" + std::to_string(getpid() % 100000)) {
    subnet_ = "10.231." + std::to_string(getpid() % 250) + ".";
  }
  ~Hosts() {
    for (const std::string& ns : made_) Sh("ip netns del " + ns);
    Sh("ip link del " + tag_ + "r");
  }
  std::string Ns(const std::string& host) const { return tag_ + "-" + host; }
  std::string Ip(int host) const { return subnet_ + std::to_string(host == 0 ? 1 : 9 + host); }
  // Empty on success, else what failed.
  std::string Build() {
    for (const char* h : {"sw", "h1", "h2", "h3"}) {
      if (Sh("ip netns add " + Ns(h)) != 0) return "ip netns add " + Ns(h) + " failed";
      made_.push_back(Ns(h));
    }
    std::string sw = "ip netns exec " + Ns("sw") + " ";
    if (Sh(sw + "ip link add br0 type bridge") || Sh(sw + "ip link set br0 up")) return "no bridge in a namespace";
    // Host 0 is this namespace (the client); hosts 1-3 are namespaces.
    for (int i = 0; i <= 3; ++i) {
      std::string end = tag_ + (i == 0 ? "r" : "h" + std::to_string(i));
      std::string port = tag_ + "p" + std::to_string(i);
      if (Sh("ip link add " + end + " type veth peer name " + port) ||
          Sh("ip link set " + port + " netns " + Ns("sw")) || Sh(sw + "ip link set " + port + " master br0") ||
          Sh(sw + "ip link set " + port + " up")) {
        return "veth link for host " + std::to_string(i) + " failed";
      }
      std::string in = i == 0 ? "" : "ip netns exec " + Ns("h" + std::to_string(i)) + " ";
      if (i > 0 && (Sh("ip link set " + end + " netns " + Ns("h" + std::to_string(i))) || Sh(in + "ip link set lo up"))) {
        return "moving the link into host " + std::to_string(i) + " failed";
      }
      if (Sh(in + "ip addr add " + Ip(i) + "/24 dev " + end) || Sh(in + "ip link set " + end + " up")) {
        return "addressing host " + std::to_string(i) + " failed";
      }
    }
    // The bridge forwards once its ports are up; wait until host 1 answers.
    for (int tries = 0; tries < 50; ++tries) {
      if (Sh("ping -c1 -W1 " + Ip(1)) == 0) return "";
      std::this_thread::sleep_for(100ms);
    }
    return Sh("which ping") == 0 ? "host 1 does not answer ping" : "";
  }
  // Cuts host i off the bridge (or puts it back).
  void Link(int i, bool up) {
    ASSERT_EQ(Sh("ip netns exec " + Ns("sw") + " ip link set " + tag_ + "p" + std::to_string(i) + (up ? " up" : " down")),
              0);
  }

 private:
  std::string tag_, subnet_;
  std::vector<std::string> made_;
};

std::string SkeinProgram() { return SKEIN_EXECUTABLE; }

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
    if (Sh("ip netns list") != 0) GTEST_SKIP() << "iproute2's `ip netns` is not available";
    hosts_ = std::make_unique<Hosts>();
    std::string why = hosts_->Build();
    if (!why.empty()) GTEST_SKIP() << "network namespaces unusable here: " << why;
    dir_ = (fs::temp_directory_path() / ("skein-netns-" + std::to_string(getpid()))).string();
    distributed::CreateCertificates(dir_ + "/tls");
  }
  void TearDown() override {
    if (HasFailure() || std::getenv("SKEIN_TEST_LOGS")) {
      for (const auto& c : children_) std::cerr << "---- child " << c->pid() << " ----\n" << c->Log() << "\n";
    }
    children_.clear();
    hosts_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  Child* Start(const std::string& host, std::vector<std::string> args, const std::string& name) {
    std::vector<std::string> argv = {"ip", "netns", "exec", hosts_->Ns(host), SkeinProgram()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--tls-dir", dir_ + "/tls", "--token", "netns-secret", "--parent-pid",
                             std::to_string(getpid())});
    // In the test's directory, removed at the end: the worker cut off dies
    // by SIGKILL and cannot remove its own.
    if (args.at(0) == "worker") argv.insert(argv.end(), {"--local-directory", dir_ + "/" + name});
    children_.push_back(std::make_unique<Child>(argv, dir_ + "/" + name + ".log"));
    return children_.back().get();
  }
  std::unique_ptr<Hosts> hosts_;
  std::string dir_;
  std::vector<std::unique_ptr<Child>> children_;
};

// Waits (bounded) until `pred` holds.
template <class Pred>
bool Eventually(double seconds, Pred pred) {
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

TEST_F(NetnsTest, HostCutOffMidRunIsRecomputedThenReconnectsOrExits) {
  const std::string sched = "tls://" + hosts_->Ip(1) + ":8786";
  Child* scheduler = Start("h1", {"scheduler", "--host", hosts_->Ip(1), "--port", "8786", "--http-port", "-1", "--worker-timeout", "3"},
        "scheduler");
  Start("h2", {"worker", sched, "--host", hosts_->Ip(2), "--nthreads", "1", "--name", "a", "--death-timeout", "15"},
        "worker-a");
  Child* b = Start("h3", {"worker", sched, "--host", hosts_->Ip(3), "--nthreads", "1", "--name", "b",
                          "--resources", "HOSTB=1", "--death-timeout", "15"},
                   "worker-b");
  auto security = distributed::Security::FromDirectory(dir_ + "/tls");
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Eventually(20, [&] {
    try {
      client = std::make_unique<Client>(sched, "netns-secret", security);
      return true;
    } catch (const CommError&) {
      return false;
    }
  })) << "the scheduler in its namespace never answered";
  ASSERT_TRUE(Eventually(20, [&] { return client->workers().size() == 2; }));
  client->upload_file(CLUSTER_OPS_LIBRARY);

  // 24 slow tasks over both hosts, then their sum; host 3 is cut off
  // while they run, holding results and running tasks.
  auto slow = delayed("cluster.slow");
  auto sum = delayed("cluster.sum");
  std::vector<Delayed> parts;
  for (int64_t i = 0; i < 24; ++i) parts.push_back(slow(i, int64_t{150}));
  Future total = client->compute(sum(parts));
  std::this_thread::sleep_for(700ms);
  hosts_->Link(3, false);
  EXPECT_EQ(total.result(Duration(kWait)).as<int64_t>(), 24 * 23 / 2);
  EXPECT_TRUE(Eventually(20, [&] { return client->workers().size() == 1; }))
      << "the scheduler still lists the cut-off worker";
  // Noticed by keepalive or heartbeat, while b held results or ran tasks.
  std::string log = scheduler->Log();
  size_t at = log.find("worker b (tls://" + hosts_->Ip(3));
  ASSERT_NE(at, std::string::npos) << log;
  std::string removal = log.substr(at, log.find('\n', at) - at);
  EXPECT_EQ(removal.find("0 tasks to rerun, 0 results held"), std::string::npos) << "cut off while idle: " << removal;

  // The link is back: the worker reconnects and runs tasks again (only it
  // has HOSTB).
  hosts_->Link(3, true);
  ASSERT_TRUE(Eventually(40, [&] { return client->workers().size() == 2; })) << "worker b never reconnected";
  SubmitOptions on_b;
  on_b.resources = {{"HOSTB", 1}};
  EXPECT_EQ(client->submit(on_b, "cluster.pid", int64_t{0}).result(Duration(kWait)).as<int64_t>(), b->pid());

  // Cut off for good: it gives up after its death timeout and exits,
  // while the rest of the cluster keeps working.
  hosts_->Link(3, false);
  EXPECT_TRUE(b->ExitsWithin(60)) << "worker b kept running without its scheduler";
  EXPECT_NE(b->Log().find("unreachable"), std::string::npos) << b->Log();
  EXPECT_EQ(client->submit("cluster.inc", int64_t{41}).result(Duration(kWait)).as<int64_t>(), 42);
}

}  // namespace
}  // namespace skein
