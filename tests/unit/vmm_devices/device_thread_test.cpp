#include "vmm/event/device_thread.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace flotilla::vmm {
namespace {

std::string task_file(pid_t tid, const char* name) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "se.slice   :   300000" from /proc/<pid>/task/<tid>/sched (CONFIG_SCHED_DEBUG).
uint64_t slice_ns(pid_t tid) {
  std::istringstream in(task_file(tid, "sched"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("se.slice", 0) == 0) return std::stoull(line.substr(line.find(':') + 1));
  }
  return 0;
}

TEST(DeviceThread, IsNamedAndGetsTheShortSlice) {
  // Read from inside the thread: /proc/self/task/<tid> is gone once it ends.
  std::string comm;
  uint64_t before = 0, after = 0;
  std::thread t([&] {
    const pid_t tid = ::gettid();
    before = slice_ns(tid);
    enter_device_thread("blk0w1");
    comm = task_file(tid, "comm");
    after = slice_ns(tid);
  });
  t.join();
  EXPECT_EQ(comm, "blk0w1\n");
  ASSERT_NE(before, 0u) << "no se.slice in /proc/<tid>/sched (a kernel without EEVDF slices)";
  EXPECT_EQ(after, kDeviceThreadSliceNs) << "default was " << before;
  EXPECT_LT(kDeviceThreadSliceNs, before) << "the slice must be shorter than the default";
}

TEST(DeviceThread, ALongNameIsCutToTheKernelsLimit) {
  std::string comm;
  std::thread t([&] {
    enter_device_thread("a-device-thread-name-longer-than-15");
    comm = task_file(::gettid(), "comm");
  });
  t.join();
  EXPECT_EQ(comm, "a-device-thread\n");
}

}  // namespace
}  // namespace flotilla::vmm
