// Several threads writing at once, through one store and through two connections to one file.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using test::open_store;
using test::sample_spec;
using test::TempDir;

constexpr int kThreadsPerStore = 4;
constexpr int kVmsPerThread = 25;

TEST(StoreConcurrencyTest, WritersOnTwoConnectionsLoseNothing) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  auto a = open_store(path);
  auto b = open_store(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  writers.reserve(size_t{2} * kThreadsPerStore);
  for (int t = 0; t < 2 * kThreadsPerStore; ++t) {
    StateStore* store = t % 2 == 0 ? a.get() : b.get();
    writers.emplace_back([store, t, &failures] {
      pthread_setname_np(pthread_self(), ("writer" + std::to_string(t)).c_str());
      for (int i = 0; i < kVmsPerThread; ++i) {
        auto vm = store->create_vm(sample_spec("t" + std::to_string(t) + "-" + std::to_string(i)));
        if (!vm.ok()) {
          ADD_FAILURE() << vm.error().message;
          ++failures;
          continue;
        }
        // Interleave reads and state moves with the creates.
        if (!store->get_vm(vm->id).ok()) ++failures;
        if (!store->set_vm_state(vm->id, VmState::starting).ok()) ++failures;
        if (!store->list_vms().ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = a->list_vms();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(2 * kThreadsPerStore * kVmsPerThread));
  std::set<std::string> names;
  for (const VmRecord& vm : *list) {
    names.insert(vm.spec.name);
    EXPECT_EQ(vm.actual, VmState::starting);
    EXPECT_EQ(vm.spec.disks.size(), 2u);
  }
  EXPECT_EQ(names.size(), list->size());
  EXPECT_EQ(*b->integrity_check(), "ok");
}

TEST(StoreConcurrencyTest, RacingCreatesOfOneNameHaveOneWinner) {
  TempDir dir;
  auto store = open_store(dir.file("flotilla.db"));
  ASSERT_NE(store, nullptr);
  std::atomic<int> created{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> racers;
  racers.reserve(8);
  for (int t = 0; t < 8; ++t) {
    racers.emplace_back([&, t] {
      pthread_setname_np(pthread_self(), ("racer" + std::to_string(t)).c_str());
      auto vm = store->create_vm(sample_spec("contended"));
      if (vm.ok()) {
        ++created;
      } else if (vm.error().code == StoreErrc::conflict) {
        ++conflicts;
      } else {
        ADD_FAILURE() << vm.error().message;
      }
    });
  }
  for (auto& r : racers) r.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
}

}  // namespace
}  // namespace flotilla::storage
