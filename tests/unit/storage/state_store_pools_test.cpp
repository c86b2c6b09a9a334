// Pools, disks, extents and pool disks attached to VMs (schema 5), on real SQLite files.
#include <gtest/gtest.h>

#include "storage/sqlite/schema.h"
#include "tests/unit/storage/store_test_util.h"

namespace flotilla::storage::test {
namespace {

PoolRecord sample_pool(const std::string& name, PoolType type = PoolType::partitioned) {
  PoolRecord p;
  p.name = name;
  p.type = type;
  p.path = "/dev/pool-" + name;
  p.capacity_bytes = 64ULL << 20;
  return p;
}

DiskRecord sample_disk(const std::string& name, const PoolRecord& pool) {
  DiskRecord d;
  d.name = name;
  d.pool_id = pool.id;
  d.size_bytes = 4ULL << 20;
  d.path = pool.path;
  d.extents = {{1ULL << 20, 2ULL << 20}, {8ULL << 20, 2ULL << 20}};
  return d;
}

class PoolStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.file("f.db"));
    ASSERT_NE(store_, nullptr);
  }
  TempDir dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(PoolStoreTest, PoolCrudAndNamesUniquePerHost) {
  auto p = store_->create_pool(sample_pool("fast"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->id.size(), 36u);
  EXPECT_EQ(p->host, "host-a");
  EXPECT_GT(p->created_at, 0);
  auto again = store_->create_pool(sample_pool("fast"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StoreErrc::conflict);
  EXPECT_NE(again.error().message.find("fast"), std::string::npos);

  auto by_name = store_->get_pool_by_name("fast");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, p->id);
  EXPECT_EQ(by_name->type, PoolType::partitioned);
  EXPECT_EQ(by_name->capacity_bytes, 64ULL << 20);
  EXPECT_EQ(store_->get_pool(p->id)->path, "/dev/pool-fast");
  ASSERT_TRUE(store_->create_pool(sample_pool("slow", PoolType::dir)));
  auto all = store_->list_pools();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].type, PoolType::dir);

  ASSERT_TRUE(store_->delete_pool(p->id));
  EXPECT_EQ(store_->get_pool(p->id).error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->delete_pool(p->id).error().code, StoreErrc::not_found);
}

TEST_F(PoolStoreTest, DisksKeepTheirExtentsInOrder) {
  auto pool = store_->create_pool(sample_pool("p"));
  ASSERT_TRUE(pool);
  auto d = store_->create_disk(sample_disk("root", *pool));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->generation, 1u);
  auto got = store_->get_disk_by_name("root");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id, d->id);
  ASSERT_EQ(got->extents.size(), 2u);
  EXPECT_EQ(got->extents[1], (DiskExtent{8ULL << 20, 2ULL << 20}));
  EXPECT_EQ(got->attached_to, "");
  EXPECT_EQ(store_->create_disk(sample_disk("root", *pool)).error().code, StoreErrc::conflict);

  std::vector<DiskExtent> grown = got->extents;
  grown.push_back({20ULL << 20, 1ULL << 20});
  auto r = store_->resize_disk(d->id, 5ULL << 20, grown);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size_bytes, 5ULL << 20);
  EXPECT_EQ(r->generation, 2u);
  EXPECT_EQ(r->extents, grown);
  EXPECT_EQ(store_->list_disks(pool->id)->size(), 1u);
  EXPECT_EQ(store_->list_disks("")->size(), 1u);
  EXPECT_EQ(store_->list_disks("other")->size(), 0u);

  // A pool that holds disks stays.
  EXPECT_EQ(store_->delete_pool(pool->id).error().code, StoreErrc::invalid_state);
  ASSERT_TRUE(store_->delete_disk(d->id));
  EXPECT_EQ(store_->get_disk(d->id).error().code, StoreErrc::not_found);
  EXPECT_TRUE(store_->delete_pool(pool->id));
}

TEST_F(PoolStoreTest, ADiskWithIdKeepsIt) {
  auto pool = store_->create_pool(sample_pool("p"));
  ASSERT_TRUE(pool);
  DiskRecord d = sample_disk("kept", *pool);
  d.id = "0b5e8a57-1c1e-4f51-9d7c-6a4f3a2b1c0d";
  auto made = store_->create_disk(d);
  ASSERT_TRUE(made);
  EXPECT_EQ(made->id, d.id);
}

TEST_F(PoolStoreTest, BackingDiskCannotBeDeleted) {
  auto pool = store_->create_pool(sample_pool("p", PoolType::dir));
  ASSERT_TRUE(pool);
  auto base = store_->create_disk(sample_disk("base", *pool));
  ASSERT_TRUE(base);
  DiskRecord overlay = sample_disk("overlay", *pool);
  overlay.format = "qcow2";
  overlay.backing_disk_id = base->id;
  auto o = store_->create_disk(overlay);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(store_->get_disk(o->id)->backing_disk_id, base->id);
  EXPECT_EQ(store_->delete_disk(base->id).error().code, StoreErrc::invalid_state);
  ASSERT_TRUE(store_->delete_disk(o->id));
  EXPECT_TRUE(store_->delete_disk(base->id));
}

TEST_F(PoolStoreTest, AttachAndDetachOnlyAtRest) {
  auto pool = store_->create_pool(sample_pool("p"));
  ASSERT_TRUE(pool);
  auto disk = store_->create_disk(sample_disk("data", *pool));
  ASSERT_TRUE(disk);
  auto vm = store_->create_vm(sample_spec("vm1"));
  ASSERT_TRUE(vm);
  auto other = store_->create_vm(sample_spec("vm2"));
  ASSERT_TRUE(other);

  auto a = store_->attach_disk(vm->id, disk->id, true);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->spec.disks.size(), 3u);  // two path disks, then the pool disk
  EXPECT_EQ(a->spec.disks[2].disk_id, disk->id);
  EXPECT_EQ(a->spec.disks[2].path, disk->path);
  EXPECT_TRUE(a->spec.disks[2].read_only);
  EXPECT_EQ(a->spec.disks[0].disk_id, "");
  EXPECT_EQ(a->generation, 2u);
  EXPECT_EQ(store_->get_disk(disk->id)->attached_to, vm->id);
  EXPECT_EQ(store_->list_vms()->at(0).spec.disks.at(2).disk_id, disk->id);

  // Attached once only; not deletable while attached.
  EXPECT_EQ(store_->attach_disk(other->id, disk->id, false).error().code, StoreErrc::conflict);
  EXPECT_EQ(store_->delete_disk(disk->id).error().code, StoreErrc::invalid_state);

  // Running: no detach.
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::starting));
  EXPECT_EQ(store_->detach_disk(vm->id, disk->id).error().code, StoreErrc::invalid_state);
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::stopped));

  auto d = store_->detach_disk(vm->id, disk->id);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->spec.disks.size(), 2u);
  EXPECT_EQ(store_->detach_disk(vm->id, disk->id).error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->get_disk(disk->id)->attached_to, "");

  ASSERT_TRUE(store_->set_vm_state(other->id, VmState::starting));
  EXPECT_EQ(store_->attach_disk(other->id, disk->id, false).error().code, StoreErrc::invalid_state);
  EXPECT_TRUE(store_->delete_disk(disk->id));
}

TEST_F(PoolStoreTest, DeletingAVmReleasesItsDisks) {
  auto pool = store_->create_pool(sample_pool("p"));
  auto disk = store_->create_disk(sample_disk("data", *pool));
  auto vm = store_->create_vm(sample_spec("vm1"));
  ASSERT_TRUE(pool && disk && vm);
  ASSERT_TRUE(store_->attach_disk(vm->id, disk->id, false));
  ASSERT_TRUE(store_->delete_vm(vm->id));
  EXPECT_EQ(store_->get_disk(disk->id)->attached_to, "");
}

TEST_F(PoolStoreTest, SchemaHasThePoolTables) {
  EXPECT_GE(store_->schema_version(), 5);
  EXPECT_EQ(store_->schema_version(), sqlite::latest_schema_version());
  EXPECT_EQ(*store_->integrity_check(), "ok");
}

}  // namespace
}  // namespace flotilla::storage::test
