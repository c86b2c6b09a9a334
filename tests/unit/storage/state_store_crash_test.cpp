// The SQLite way of testing durability: a child process creates VMs and reports each
// acknowledged id; it is SIGKILLed at a random moment; afterwards every acknowledged VM must be
// in the file and the file must pass PRAGMA integrity_check. Several rounds on the same file, so
// later rounds also recover from the earlier crashes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(30);

// Reads whole lines from a pipe with a deadline. Returns false at EOF.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // Appends complete lines to out; false at EOF, and a test failure when the deadline passes.
  bool read_some(std::vector<std::string>& out, Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "the writer went quiet for " << kDeadline.count() << " s";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return read_some(out, deadline);
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos;) {
      out.push_back(pending_.substr(0, nl));
      pending_.erase(0, nl + 1);
    }
    return true;
  }

 private:
  int fd_;
  std::string pending_;
};

struct Round {
  std::vector<std::string> acked;
  int wait_status = 0;
};

// Starts the writer, lets kill_after creates be acknowledged, waits delay, SIGKILLs it, then
// collects every id it managed to report before dying.
Round run_and_kill(const std::string& db, const std::string& prefix, size_t kill_after,
                   std::chrono::microseconds delay) {
  Round round;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return round;
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  const char* argv[] = {STORAGE_CRASH_WRITER, db.c_str(), prefix.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {                // child: only async-signal-safe calls until exec
    ::dup2(write_end.get(), 3);  // the writer's acknowledgement fd (dup2 clears CLOEXEC)
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  write_end.reset();
  LineReader reader(read_end.get());
  const auto deadline = Clock::now() + kDeadline;
  bool open = true;
  while (open && round.acked.size() < kill_after) open = reader.read_some(round.acked, deadline);
  std::this_thread::sleep_for(delay);  // a random moment, not a wait for a condition
  ::kill(pid, SIGKILL);
  while (open) open = reader.read_some(round.acked, Clock::now() + kDeadline);
  ::waitpid(pid, &round.wait_status, 0);
  return round;
}

TEST(StoreCrashTest, EveryAcknowledgedCreateSurvivesSigkill) {
  test::TempDir dir;
  const std::string db = dir.file("flotilla.db");
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> kill_after(1, 120);
  std::uniform_int_distribution<int> delay_us(0, 3000);
  std::vector<std::string> all_acked;
  for (int r = 0; r < 6; ++r) {
    const size_t n = kill_after(rng);
    Round round =
        run_and_kill(db, "r" + std::to_string(r), n, std::chrono::microseconds(delay_us(rng)));
    ASSERT_TRUE(WIFSIGNALED(round.wait_status) && WTERMSIG(round.wait_status) == SIGKILL)
        << "round " << r << ": the writer ended by itself (status " << round.wait_status
        << "); see its stderr above";
    ASSERT_GE(round.acked.size(), n);
    all_acked.insert(all_acked.end(), round.acked.begin(), round.acked.end());
    std::printf("round %d: killed after %zu acknowledged creates (%zu in total)\n", r,
                round.acked.size(), all_acked.size());

    auto store = test::open_store(db);
    ASSERT_NE(store, nullptr);
    for (const std::string& id : all_acked) {
      auto vm = store->get_vm(id);
      ASSERT_TRUE(vm.ok()) << "round " << r << ": acknowledged VM " << id
                           << " is missing: " << vm.error().message;
      EXPECT_EQ(vm->spec.disks.size(), 1u);
    }
    auto report = store->integrity_check();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(*report, "ok");
    auto list = store->list_vms();
    ASSERT_TRUE(list.ok());
    EXPECT_GE(list->size(), all_acked.size());  // plus at most one committed but unreported
    EXPECT_LE(list->size(), all_acked.size() + static_cast<size_t>(r) + 1);
  }
}

}  // namespace
}  // namespace flotilla::storage
