// 20 guests started and stopped concurrently: all run, all stop, and nothing leaks (monitor
// processes, control sockets, the daemon's file descriptors, watched monitors).
#include <dirent.h>

#include <future>
#include <sstream>
#include <vector>

#include "tests/integration/supervisor/fleet_harness.h"

namespace flotilla::supervisor_test {
namespace {

constexpr int kGuests = 20;

int open_fds(pid_t pid) {
  int n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

// Live flotilla-vmm processes whose command line names this state folder.
int monitors_of(const std::string& state_dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string argv0 = cmd.substr(0, cmd.find('\0'));
    if (argv0.size() >= 12 && argv0.ends_with("flotilla-vmm") &&
        cmd.find(state_dir) != std::string::npos && process_exists(std::stoi(pid))) {
      ++n;
    }
  }
  return n;
}

std::vector<std::string> sockets_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename() != "flotillad.sock") out.push_back(e.path().filename());
  }
  return out;
}

TEST(FleetTest, TwentyGuestsStartAndStopConcurrentlyWithoutLeaks) {
  auto daemon = start_daemon();
  ASSERT_NE(daemon, nullptr);
  Fleet f(*daemon);
  std::vector<std::string> ids;
  for (int i = 0; i < kGuests; ++i) {
    ids.push_back(f.create("fleet-" + std::to_string(i), {{"memory_mib", 32}}));
  }
  // Warm the daemon's lazily opened files (a first start) so the fd baseline is fair.
  f.act_and_wait(ids[0], "start");
  f.act_and_wait(ids[0], "force-stop");
  const int fds_before = open_fds(daemon->pid());

  for (int round = 0; round < 2; ++round) {
    std::vector<std::future<json>> starts;
    for (const auto& id : ids) {
      starts.push_back(
          std::async(std::launch::async, [&f, id] { return f.act_and_wait(id, "start", 60s); }));
    }
    for (auto& s : starts) EXPECT_EQ(s.get().value("state", ""), "succeeded");
    for (const auto& id : ids) {
      EXPECT_EQ(f.state(id), "running") << id;
      EXPECT_TRUE(f.wait_console(id, "flotilla-probe ready", 1, 30s)) << id;
    }
    EXPECT_EQ(monitors_of(daemon->state_dir()), kGuests);

    // Half stop gracefully, half are forced, all at once.
    std::vector<std::future<json>> stops;
    for (int i = 0; i < kGuests; ++i) {
      const char* how = i % 2 ? "stop" : "force-stop";
      stops.push_back(std::async(std::launch::async,
                                 [&f, id = ids[i], how] { return f.act_and_wait(id, how, 60s); }));
    }
    for (auto& s : stops) EXPECT_EQ(s.get().value("state", ""), "succeeded");
    for (const auto& id : ids) EXPECT_EQ(f.state(id), "stopped") << id;
  }

  const auto deadline = Clock::now() + 5s;
  while (monitors_of(daemon->state_dir()) > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(monitors_of(daemon->state_dir()), 0);
  EXPECT_TRUE(sockets_in(daemon->state_dir() + "/run").empty());
  // Client connections close asynchronously: give the server a moment to see the last one go.
  const auto fd_deadline = Clock::now() + 3s;
  while (open_fds(daemon->pid()) > fds_before && Clock::now() < fd_deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LE(open_fds(daemon->pid()), fds_before);  // the baseline may hold a client connection
  // Every monitor was reaped by the daemon: no zombie children left.
  int zombies = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!in || !std::getline(in, line)) continue;
    const size_t close = line.rfind(')');
    if (close == std::string::npos || close + 4 >= line.size()) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (state == 'Z' && ppid == daemon->pid()) ++zombies;
  }
  EXPECT_EQ(zombies, 0);
}

}  // namespace
}  // namespace flotilla::supervisor_test
