// VM records: create, read, update, state moves and delete, each against a real SQLite file.
#include <gtest/gtest.h>

#include <set>

#include "common/uuid.h"
#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using test::open_store;
using test::sample_spec;
using test::TempDir;

class VmStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.file("flotilla.db"));
    ASSERT_NE(store_, nullptr);
  }

  // Walks a stopped VM to running through the lifecycle.
  void start(const std::string& id) {
    ASSERT_TRUE(store_->set_vm_state(id, VmState::starting).ok());
    ASSERT_TRUE(store_->set_vm_state(id, VmState::running).ok());
  }

  TempDir dir_;
  std::unique_ptr<StateStore> store_;
};

void expect_same_spec(const VmSpec& a, const VmSpec& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.vcpus, b.vcpus);
  EXPECT_EQ(a.memory_mib, b.memory_mib);
  EXPECT_EQ(a.boot.kernel, b.boot.kernel);
  EXPECT_EQ(a.boot.initrd, b.boot.initrd);
  EXPECT_EQ(a.boot.cmdline, b.boot.cmdline);
  ASSERT_EQ(a.disks.size(), b.disks.size());
  for (size_t i = 0; i < a.disks.size(); ++i) {
    EXPECT_EQ(a.disks[i].path, b.disks[i].path);
    EXPECT_EQ(a.disks[i].read_only, b.disks[i].read_only);
  }
  ASSERT_EQ(a.nics.size(), b.nics.size());
  for (size_t i = 0; i < a.nics.size(); ++i) {
    EXPECT_EQ(a.nics[i].network, b.nics[i].network);
    EXPECT_EQ(a.nics[i].mac, b.nics[i].mac);
  }
  EXPECT_EQ(a.cpu.mode, b.cpu.mode);
  EXPECT_EQ(a.cpu.weight, b.cpu.weight);
  EXPECT_EQ(a.cpu.cap_percent, b.cpu.cap_percent);
  EXPECT_EQ(a.cpu.dedicated_cores, b.cpu.dedicated_cores);
  EXPECT_EQ(a.memory.mode, b.memory.mode);
  EXPECT_EQ(a.restart, b.restart);
}

TEST_F(VmStoreTest, CreateFillsIdentityAndDefaults) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok()) << vm.error().message;
  EXPECT_TRUE(is_uuid(vm->id));
  EXPECT_EQ(vm->host, "host-a");
  EXPECT_EQ(vm->generation, 1u);
  EXPECT_EQ(vm->desired, VmState::stopped);
  EXPECT_EQ(vm->actual, VmState::stopped);
  EXPECT_GT(vm->created_at, 1'600'000'000'000);  // unix milliseconds, not seconds
  EXPECT_EQ(vm->created_at, vm->updated_at);
}

TEST_F(VmStoreTest, GetByIdAndNameReturnWhatWasStored) {
  const VmSpec spec = sample_spec("web-1");
  auto created = store_->create_vm(spec);
  ASSERT_TRUE(created.ok());
  auto by_id = store_->get_vm(created->id);
  ASSERT_TRUE(by_id.ok()) << by_id.error().message;
  expect_same_spec(by_id->spec, spec);
  EXPECT_EQ(by_id->created_at, created->created_at);
  auto by_name = store_->get_vm_by_name("web-1");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, created->id);
  expect_same_spec(by_name->spec, spec);
}

TEST_F(VmStoreTest, MissingVmIsNotFound) {
  auto a = store_->get_vm(make_uuid());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, StoreErrc::not_found);
  auto b = store_->get_vm_by_name("nope");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->delete_vm(make_uuid()).error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->set_vm_state(make_uuid(), VmState::starting).error().code,
            StoreErrc::not_found);
}

TEST_F(VmStoreTest, ListReturnsEveryVmWithItsChildren) {
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    VmSpec spec = sample_spec("vm-" + std::to_string(i));
    spec.disks.resize(static_cast<size_t>(i), {"/pool/d.raw", false});
    auto vm = store_->create_vm(spec);
    ASSERT_TRUE(vm.ok());
    ids.insert(vm->id);
  }
  auto list = store_->list_vms();
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 5u);
  for (const VmRecord& vm : *list) {
    EXPECT_EQ(ids.count(vm.id), 1u);
    EXPECT_EQ(vm.spec.disks.size(), static_cast<size_t>(vm.spec.name.back() - '0'));
    EXPECT_EQ(vm.spec.nics.size(), 1u);
  }
}

TEST_F(VmStoreTest, DuplicateNameIsConflictNamingTheName) {
  ASSERT_TRUE(store_->create_vm(sample_spec("web-1")).ok());
  auto again = store_->create_vm(sample_spec("web-1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, StoreErrc::conflict);
  EXPECT_NE(again.error().message.find("web-1"), std::string::npos) << again.error().message;
  auto list = store_->list_vms();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);  // the failed create left nothing behind
}

TEST_F(VmStoreTest, UpdateReplacesSpecAndBumpsGeneration) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  VmSpec next = sample_spec("web-2");
  next.vcpus = 4;
  next.disks = {{"/pool/only.raw", true}};
  next.nics.clear();
  next.cpu = {CpuMode::partition, 100, 0, 2};
  next.restart = RestartPolicy::always;
  auto updated = store_->update_vm(vm->id, next, std::uint64_t{1});
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->generation, 2u);
  expect_same_spec(updated->spec, next);
  auto read = store_->get_vm(vm->id);
  ASSERT_TRUE(read.ok());
  expect_same_spec(read->spec, next);
  EXPECT_EQ(read->generation, 2u);
  EXPECT_EQ(store_->get_vm_by_name("web-1").error().code, StoreErrc::not_found);
}

TEST_F(VmStoreTest, UpdateWithStaleGenerationIsConflict) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  ASSERT_TRUE(store_->update_vm(vm->id, sample_spec("web-1"), std::nullopt).ok());
  VmSpec stale = sample_spec("web-1");
  stale.vcpus = 8;
  auto r = store_->update_vm(vm->id, stale, std::uint64_t{1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StoreErrc::conflict);
  auto read = store_->get_vm(vm->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->generation, 2u);
  EXPECT_EQ(read->spec.vcpus, 2u);
}

TEST_F(VmStoreTest, RenameOntoTakenNameIsConflict) {
  ASSERT_TRUE(store_->create_vm(sample_spec("a")).ok());
  auto b = store_->create_vm(sample_spec("b"));
  ASSERT_TRUE(b.ok());
  auto r = store_->update_vm(b->id, sample_spec("a"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StoreErrc::conflict);
  EXPECT_NE(r.error().message.find("'a'"), std::string::npos);
  EXPECT_EQ(store_->get_vm(b->id)->spec.name, "b");
}

TEST_F(VmStoreTest, UpdateRefusedWhileRunning) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  start(vm->id);
  auto r = store_->update_vm(vm->id, sample_spec("web-9"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StoreErrc::invalid_state);
  EXPECT_NE(r.error().message.find("running"), std::string::npos);
  EXPECT_EQ(store_->get_vm(vm->id)->spec.name, "web-1");
  // The CPU policy alone may change while it runs (the scheduler applies it live).
  auto live = store_->get_vm(vm->id)->spec;
  live.cpu.weight = 700;
  live.cpu.cap_percent = 40;
  auto changed = store_->update_vm(vm->id, live, std::nullopt);
  ASSERT_TRUE(changed.ok()) << changed.error().message;
  EXPECT_EQ(changed->spec.cpu.weight, 700u);
  live.memory_mib += 64;  // with anything else: refused, nothing changes
  auto mixed = store_->update_vm(vm->id, live, std::nullopt);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code, StoreErrc::invalid_state);
  EXPECT_EQ(store_->get_vm(vm->id)->spec.memory_mib, changed->spec.memory_mib);
  // Crashed counts as at rest: the definition may be fixed before a restart.
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::crashed).ok());
  EXPECT_TRUE(store_->update_vm(vm->id, sample_spec("web-9"), std::nullopt).ok());
}

TEST_F(VmStoreTest, StateMovesFollowTheLifecycle) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  auto bad = store_->set_vm_state(vm->id, VmState::running);  // stopped -> running skips starting
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, StoreErrc::invalid_state);
  EXPECT_NE(bad.error().message.find("stopped"), std::string::npos);
  start(vm->id);
  for (VmState s : {VmState::paused, VmState::running, VmState::stopping, VmState::stopped}) {
    auto r = store_->set_vm_state(vm->id, s);
    ASSERT_TRUE(r.ok()) << to_string(s) << ": " << r.error().message;
    EXPECT_EQ(r->actual, s);
  }
  EXPECT_EQ(store_->set_vm_state(vm->id, VmState::stopped).error().code, StoreErrc::invalid_state);
  EXPECT_EQ(store_->set_vm_state(vm->id, VmState::paused).error().code, StoreErrc::invalid_state);
  auto read = store_->get_vm(vm->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->actual, VmState::stopped);
  EXPECT_EQ(read->generation, 1u);  // state moves are not spec changes
}

TEST_F(VmStoreTest, StateReasonIsRecordedWithTheMoveAndClearedByTheNext) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  start(vm->id);
  auto crashed = store_->record_vm_state(vm->id, VmState::crashed, "killed by signal 9 (KILL)");
  ASSERT_TRUE(crashed.ok()) << crashed.error().message;
  EXPECT_EQ(crashed->state_reason, "killed by signal 9 (KILL)");
  EXPECT_EQ(store_->get_vm(vm->id)->state_reason, "killed by signal 9 (KILL)");
  EXPECT_EQ(store_->list_vms()->at(0).state_reason, "killed by signal 9 (KILL)");
  auto refused = store_->record_vm_state(vm->id, VmState::paused, "no");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(store_->get_vm(vm->id)->state_reason, "killed by signal 9 (KILL)");
  auto restarted = store_->set_vm_state(vm->id, VmState::starting);
  ASSERT_TRUE(restarted.ok());
  EXPECT_EQ(restarted->state_reason, "");
}

TEST_F(VmStoreTest, DesiredStateIsStoredApartFromActual) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  auto r = store_->set_vm_desired_state(vm->id, VmState::running);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->desired, VmState::running);
  EXPECT_EQ(r->actual, VmState::stopped);
  EXPECT_EQ(store_->get_vm(vm->id)->desired, VmState::running);
}

TEST_F(VmStoreTest, DeleteRefusedWhileRunningThenAllowedWhenStopped) {
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  start(vm->id);
  auto r = store_->delete_vm(vm->id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StoreErrc::invalid_state);
  EXPECT_TRUE(store_->get_vm(vm->id).ok());
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::stopping).ok());
  EXPECT_EQ(store_->delete_vm(vm->id).error().code, StoreErrc::invalid_state);
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::stopped).ok());
  ASSERT_TRUE(store_->delete_vm(vm->id).ok());
  EXPECT_EQ(store_->get_vm(vm->id).error().code, StoreErrc::not_found);
  // The name is free again and the children went with the VM.
  auto again = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(store_->get_vm(again->id)->spec.disks.size(), 2u);
}

TEST_F(VmStoreTest, RecordsSurviveReopen) {
  const std::string path = dir_.file("flotilla.db");
  auto vm = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(vm.ok());
  store_.reset();
  store_ = open_store(path);
  ASSERT_NE(store_, nullptr);
  auto read = store_->get_vm(vm->id);
  ASSERT_TRUE(read.ok());
  expect_same_spec(read->spec, sample_spec("web-1"));
}

TEST_F(VmStoreTest, SameNameOnAnotherHostIsAllowed) {
  const std::string path = dir_.file("flotilla.db");
  auto mine = store_->create_vm(sample_spec("web-1"));
  ASSERT_TRUE(mine.ok());
  auto other_host = open_store(path, "host-b");
  ASSERT_NE(other_host, nullptr);
  VmSpec spec = sample_spec("web-1");
  auto same_mac = other_host->create_vm(spec);  // MACs are unique across the fleet's file
  ASSERT_FALSE(same_mac.ok());
  EXPECT_EQ(same_mac.error().code, StoreErrc::conflict);
  spec.nics[0].mac = "52:54:00:00:00:02";
  auto theirs = other_host->create_vm(spec);
  ASSERT_TRUE(theirs.ok()) << theirs.error().message;
  EXPECT_EQ(theirs->host, "host-b");
  // By name, each host resolves to its own VM.
  EXPECT_EQ(store_->get_vm_by_name("web-1")->id, mine->id);
  EXPECT_EQ(other_host->get_vm_by_name("web-1")->id, theirs->id);
}

}  // namespace
}  // namespace flotilla::storage
