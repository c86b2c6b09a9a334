// The change counters: every VM write (create, update, state, desired state, delete, refused or
// not) and every token write moves its counter before the call returns; reads and writes to
// other tables leave it alone. Caches in api/ rely on exactly this.
#include <gtest/gtest.h>

#include <string>

#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using test::open_store;
using test::sample_spec;
using test::TempDir;

class CounterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.file("flotilla.db"));
    ASSERT_NE(store_, nullptr);
  }

  // Runs `write` and reports whether the VM counter moved (checked right after it returned).
  template <class F>
  bool vm_moves(F&& write) {
    const uint64_t before = store_->vm_change_counter();
    write();
    return store_->vm_change_counter() != before;
  }
  template <class F>
  bool token_moves(F&& write) {
    const uint64_t before = store_->token_change_counter();
    write();
    return store_->token_change_counter() != before;
  }

  TempDir dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(CounterTest, EveryVmWriteMovesTheVmCounter) {
  std::string id;
  EXPECT_TRUE(vm_moves([&] { id = store_->create_vm(sample_spec("a"))->id; }));
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(vm_moves([&] {
    auto spec = sample_spec("a");
    spec.vcpus = 4;
    ASSERT_TRUE(store_->update_vm(id, spec, std::nullopt).ok());
  }));
  // Only the children change: the counter must still move (disks and NICs are VM rows too).
  EXPECT_TRUE(vm_moves([&] {
    auto spec = sample_spec("a");
    spec.vcpus = 4;
    spec.disks.clear();
    ASSERT_TRUE(store_->update_vm(id, spec, std::nullopt).ok());
  }));
  EXPECT_TRUE(vm_moves([&] { ASSERT_TRUE(store_->set_vm_state(id, VmState::starting).ok()); }));
  EXPECT_TRUE(
      vm_moves([&] { ASSERT_TRUE(store_->record_vm_state(id, VmState::crashed, "exit 1").ok()); }));
  EXPECT_TRUE(
      vm_moves([&] { ASSERT_TRUE(store_->set_vm_desired_state(id, VmState::running).ok()); }));
  EXPECT_TRUE(vm_moves([&] { ASSERT_TRUE(store_->delete_vm(id).ok()); }));
}

TEST_F(CounterTest, ReadsAndOtherTablesLeaveTheVmCounterAlone) {
  const std::string id = store_->create_vm(sample_spec("a"))->id;
  EXPECT_FALSE(vm_moves([&] {
    ASSERT_TRUE(store_->list_vms().ok());
    ASSERT_TRUE(store_->get_vm(id).ok());
    ASSERT_TRUE(store_->get_vm_by_name("a").ok());
  }));
  EXPECT_FALSE(vm_moves([&] {
    ASSERT_TRUE(store_->append_audit({0, 0, "t", "vm.create", id, "ok", "r"}).ok());
    ASSERT_TRUE(store_->create_operation("vm.start", id).ok());
    ASSERT_TRUE(store_->create_token("ci", Role::viewer, std::string(64, 'a'), 0).ok());
  }));
  EXPECT_FALSE(
      vm_moves([&] { ASSERT_TRUE(store_->find_token_by_hash(std::string(64, 'a')).ok()); }));
}

TEST_F(CounterTest, TokenWritesMoveTheTokenCounterOnly) {
  std::string id;
  EXPECT_TRUE(token_moves(
      [&] { id = store_->create_token("ci", Role::viewer, std::string(64, 'a'), 0)->id; }));
  EXPECT_FALSE(token_moves([&] {
    ASSERT_TRUE(store_->find_token_by_hash(std::string(64, 'a')).ok());
    ASSERT_TRUE(store_->list_tokens().ok());
    ASSERT_TRUE(store_->create_vm(sample_spec("a")).ok());
  }));
  EXPECT_TRUE(token_moves([&] { ASSERT_TRUE(store_->revoke_token(id).ok()); }));
}

}  // namespace
}  // namespace flotilla::storage
