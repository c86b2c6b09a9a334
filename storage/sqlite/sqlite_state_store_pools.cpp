// SqliteStateStore: disk pools, disks, their extents, and pool disks attached to VMs (schema 5).
#include <string>
#include <unordered_map>

#include "common/uuid.h"
#include "storage/sqlite/sqlite_state_store.h"
#include "storage/sqlite/vm_rows.h"

namespace flotilla::storage::sqlite {
namespace {

constexpr size_t kMaxVmDisks = 16;

constexpr const char* kPoolColumns =
    "SELECT id, host, name, type, path, capacity_bytes, created_at FROM pools ";

constexpr const char* kDiskColumns =
    "SELECT d.id, d.host, d.name, d.pool_id, d.format, d.size_bytes, d.path, "
    "coalesce(d.backing_disk_id, ''), d.created_at, d.updated_at, d.generation, "
    "coalesce((SELECT vm_id FROM vm_disks WHERE disk_id = d.id LIMIT 1), '') FROM disks d ";

StoreError taken(const char* what, const std::string& name) {
  return StoreError{StoreErrc::conflict,
                    std::string("a ") + what + " named '" + name + "' already exists on this host"};
}

StoreError missing(const char* what, const std::string& key) {
  return StoreError{StoreErrc::not_found, std::string("no ") + what + " " + key};
}

StoreResult<PoolRecord> read_pool_row(const Query& q) {
  PoolRecord p;
  p.id = q.column_text(0);
  p.host = q.column_text(1);
  p.name = q.column_text(2);
  const auto type = pool_type_from_string(q.column_text(3));
  if (!type) {
    return fail(StoreError{StoreErrc::corrupt, "pool " + p.id + " has an unknown type '" +
                                                   q.column_text(3) + "' in the store"});
  }
  p.type = *type;
  p.path = q.column_text(4);
  p.capacity_bytes = static_cast<uint64_t>(q.column_int(5));
  p.created_at = q.column_int(6);
  return p;
}

DiskRecord read_disk_row(const Query& q) {
  DiskRecord d;
  d.id = q.column_text(0);
  d.host = q.column_text(1);
  d.name = q.column_text(2);
  d.pool_id = q.column_text(3);
  d.format = q.column_text(4);
  d.size_bytes = static_cast<uint64_t>(q.column_int(5));
  d.path = q.column_text(6);
  d.backing_disk_id = q.column_text(7);
  d.created_at = q.column_int(8);
  d.updated_at = q.column_int(9);
  d.generation = static_cast<uint64_t>(q.column_int(10));
  d.attached_to = q.column_text(11);
  return d;
}

template <class Row>
StoreResult<std::vector<Row>> all_rows(Query& q, StoreResult<Row> (*read)(const Query&)) {
  std::vector<Row> out;
  for (;;) {
    auto row = q.step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto r = read(q);
    if (!r) return fail(r.error());
    out.push_back(std::move(*r));
  }
}

StoreResult<DiskRecord> read_disk_result(const Query& q) {
  return read_disk_row(q);
}

StoreResult<void> read_extents(SqliteDb& db, std::vector<DiskRecord>& disks) {
  std::unordered_map<std::string, DiskRecord*> by_id;
  for (DiskRecord& d : disks) {
    d.extents.clear();
    by_id.emplace(d.id, &d);
  }
  auto q = db.query("SELECT disk_id, host_offset, length FROM disk_extents ORDER BY disk_id, idx");
  if (!q) return fail(q.error());
  for (;;) {
    auto row = q->step();
    if (!row) return fail(row.error());
    if (!*row) return {};
    if (auto it = by_id.find(q->column_text(0)); it != by_id.end()) {
      it->second->extents.push_back(
          {static_cast<uint64_t>(q->column_int(1)), static_cast<uint64_t>(q->column_int(2))});
    }
  }
}

StoreResult<void> write_extents(SqliteDb& db, const std::string& disk_id,
                                const std::vector<DiskExtent>& extents) {
  {
    auto q = db.query("DELETE FROM disk_extents WHERE disk_id = ?1");
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, disk_id).run(); !r) return r;
  }
  for (size_t i = 0; i < extents.size(); ++i) {
    auto q = db.query(
        "INSERT INTO disk_extents (disk_id, idx, host_offset, length) VALUES (?1, ?2, ?3, ?4)");
    if (!q) return fail(q.error());
    q->bind_text(1, disk_id).bind_int(2, static_cast<int64_t>(i));
    q->bind_int(3, static_cast<int64_t>(extents[i].host_offset));
    if (auto r = q->bind_int(4, static_cast<int64_t>(extents[i].length)).run(); !r) return r;
  }
  return {};
}

// One disk selected by `where` with ?1 bound to key (and ?2 to the host for names).
StoreResult<DiskRecord> one_disk(SqliteDb& db, const std::string& where, const std::string& key,
                                 const std::string& host, const std::string& what) {
  auto q = db.query(std::string(kDiskColumns) + where);
  if (!q) return fail(q.error());
  q->bind_text(1, key);
  if (!host.empty()) q->bind_text(2, host);
  auto rows = all_rows<DiskRecord>(*q, read_disk_result);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(missing("disk", what));
  if (auto r = read_extents(db, *rows); !r) return fail(r.error());
  return std::move(rows->front());
}

bool at_rest(VmState s) {
  return s == VmState::stopped || s == VmState::crashed;
}

}  // namespace

StoreResult<PoolRecord> SqliteStateStore::create_pool(const PoolRecord& pool) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  PoolRecord p = pool;
  if (p.id.empty()) p.id = make_uuid();
  p.host = host_id_;
  p.created_at = now_ms();
  {
    auto q = db_.query(
        "INSERT INTO pools (id, host, name, type, path, capacity_bytes, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!q) return fail(q.error());
    q->bind_text(1, p.id).bind_text(2, p.host).bind_text(3, p.name).bind_text(4, to_string(p.type));
    q->bind_text(5, p.path).bind_int(6, static_cast<int64_t>(p.capacity_bytes));
    if (auto r = q->bind_int(7, p.created_at).run(); !r) {
      return fail(q->failed_on_unique() ? taken("pool", p.name) : r.error());
    }
  }
  if (auto r = txn->commit(); !r) return fail(r.error());
  return p;
}

StoreResult<PoolRecord> SqliteStateStore::get_pool(const std::string& id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kPoolColumns) + "WHERE id = ?1");
  if (!q) return fail(q.error());
  q->bind_text(1, id);
  auto rows = all_rows<PoolRecord>(*q, read_pool_row);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(missing("pool", "with id " + id));
  return std::move(rows->front());
}

StoreResult<PoolRecord> SqliteStateStore::get_pool_by_name(const std::string& name) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kPoolColumns) + "WHERE name = ?1 ORDER BY host = ?2 DESC LIMIT 1");
  if (!q) return fail(q.error());
  q->bind_text(1, name).bind_text(2, host_id_);
  auto rows = all_rows<PoolRecord>(*q, read_pool_row);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(missing("pool", "named '" + name + "'"));
  return std::move(rows->front());
}

StoreResult<std::vector<PoolRecord>> SqliteStateStore::list_pools() {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kPoolColumns) + "ORDER BY created_at, rowid");
  if (!q) return fail(q.error());
  return all_rows<PoolRecord>(*q, read_pool_row);
}

StoreResult<void> SqliteStateStore::delete_pool(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  {
    auto q = db_.query(
        "SELECT name, (SELECT count(*) FROM disks WHERE pool_id = ?1) FROM pools "
        "WHERE id = ?1");
    if (!q) return fail(q.error());
    q->bind_text(1, id);
    auto row = q->step();
    if (!row) return fail(row.error());
    if (!*row) return fail(missing("pool", "with id " + id));
    if (const int64_t n = q->column_int(1); n > 0) {
      return fail(StoreError{StoreErrc::invalid_state, "pool '" + q->column_text(0) + "' holds " +
                                                           std::to_string(n) +
                                                           " disk(s); delete them first"});
    }
  }
  {
    auto q = db_.query("DELETE FROM pools WHERE id = ?1");
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, id).run(); !r) return r;
  }
  return txn->commit();
}

StoreResult<DiskRecord> SqliteStateStore::create_disk(const DiskRecord& disk) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  DiskRecord d = disk;
  if (d.id.empty()) d.id = make_uuid();
  d.host = host_id_;
  d.created_at = d.updated_at = now_ms();
  d.generation = 1;
  d.attached_to.clear();
  {
    auto q = db_.query(
        "INSERT INTO disks (id, host, name, pool_id, format, size_bytes, path, backing_disk_id, "
        "created_at, updated_at, generation) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULLIF(?8, ''), ?9, ?9, 1)");
    if (!q) return fail(q.error());
    q->bind_text(1, d.id).bind_text(2, d.host).bind_text(3, d.name).bind_text(4, d.pool_id);
    q->bind_text(5, d.format).bind_int(6, static_cast<int64_t>(d.size_bytes)).bind_text(7, d.path);
    q->bind_text(8, d.backing_disk_id).bind_int(9, d.created_at);
    if (auto r = q->run(); !r) {
      if (q->failed_on_unique()) return fail(taken("disk", d.name));
      return fail(r.error());
    }
  }
  if (auto r = write_extents(db_, d.id, d.extents); !r) return fail(r.error());
  if (auto r = txn->commit(); !r) return fail(r.error());
  return d;
}

StoreResult<DiskRecord> SqliteStateStore::get_disk(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);
  if (!txn) return fail(txn.error());
  return one_disk(db_, "WHERE d.id = ?1", id, "", "with id " + id);
}

StoreResult<DiskRecord> SqliteStateStore::get_disk_by_name(const std::string& name) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);
  if (!txn) return fail(txn.error());
  return one_disk(db_, "WHERE d.name = ?1 ORDER BY d.host = ?2 DESC LIMIT 1", name, host_id_,
                  "named '" + name + "'");
}

StoreResult<std::vector<DiskRecord>> SqliteStateStore::list_disks(const std::string& pool_id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);
  if (!txn) return fail(txn.error());
  auto q = db_.query(std::string(kDiskColumns) +
                     "WHERE ?1 = '' OR d.pool_id = ?1 ORDER BY d.created_at, d.rowid");
  if (!q) return fail(q.error());
  q->bind_text(1, pool_id);
  auto rows = all_rows<DiskRecord>(*q, read_disk_result);
  if (!rows) return rows;
  if (auto r = read_extents(db_, *rows); !r) return fail(r.error());
  return rows;
}

StoreResult<DiskRecord> SqliteStateStore::resize_disk(const std::string& id, uint64_t size_bytes,
                                                      const std::vector<DiskExtent>& extents) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  {
    auto q = db_.query(
        "UPDATE disks SET size_bytes = ?2, updated_at = ?3, generation = generation + 1 "
        "WHERE id = ?1");
    if (!q) return fail(q.error());
    q->bind_text(1, id).bind_int(2, static_cast<int64_t>(size_bytes)).bind_int(3, now_ms());
    if (auto r = q->run(); !r) return fail(r.error());
    if (db_.changes() == 0) return fail(missing("disk", "with id " + id));
  }
  if (auto r = write_extents(db_, id, extents); !r) return fail(r.error());
  auto d = one_disk(db_, "WHERE d.id = ?1", id, "", "with id " + id);
  if (!d) return d;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return d;
}

StoreResult<void> SqliteStateStore::delete_disk(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto d = one_disk(db_, "WHERE d.id = ?1", id, "", "with id " + id);
  if (!d) return fail(d.error());
  if (!d->attached_to.empty()) {
    return fail(StoreError{StoreErrc::invalid_state, "disk '" + d->name + "' is attached to VM " +
                                                         d->attached_to + "; detach it first"});
  }
  {
    auto q = db_.query("SELECT name FROM disks WHERE backing_disk_id = ?1 LIMIT 1");
    if (!q) return fail(q.error());
    auto row = q->bind_text(1, id).step();
    if (!row) return fail(row.error());
    if (*row) {
      return fail(StoreError{
          StoreErrc::invalid_state,
          "disk '" + d->name + "' is the backing file of disk '" + q->column_text(0) + "'"});
    }
  }
  {
    auto q = db_.query("DELETE FROM disks WHERE id = ?1");  // extents cascade
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, id).run(); !r) return r;
  }
  return txn->commit();
}

StoreResult<VmRecord> SqliteStateStore::attach_disk(const std::string& vm_id,
                                                    const std::string& disk_id, bool read_only) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto vm = load_vm(vm_id);
  if (!vm) return vm;
  auto disk = one_disk(db_, "WHERE d.id = ?1", disk_id, "", "with id " + disk_id);
  if (!disk) return fail(disk.error());
  if (!at_rest(vm->actual)) {
    return fail(StoreError{StoreErrc::invalid_state,
                           "VM '" + vm->spec.name + "' is " + std::string(to_string(vm->actual)) +
                               "; it must be stopped or crashed to attach a disk"});
  }
  if (!disk->attached_to.empty()) {
    return fail(
        StoreError{StoreErrc::conflict,
                   "disk '" + disk->name + "' is already attached to VM " + disk->attached_to});
  }
  if (vm->spec.disks.size() >= kMaxVmDisks) {
    return fail(StoreError{StoreErrc::invalid_state, "VM '" + vm->spec.name + "' already has " +
                                                         std::to_string(kMaxVmDisks) + " disks"});
  }
  VmSpec spec = vm->spec;
  spec.disks.push_back({disk->path, read_only, disk->id});
  auto updated = apply_vm_update(*vm, spec);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

StoreResult<VmRecord> SqliteStateStore::detach_disk(const std::string& vm_id,
                                                    const std::string& disk_id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto vm = load_vm(vm_id);
  if (!vm) return vm;
  VmSpec spec = vm->spec;
  const auto before = spec.disks.size();
  std::erase_if(spec.disks, [&](const DiskAttachment& d) { return d.disk_id == disk_id; });
  if (spec.disks.size() == before) {
    return fail(missing("disk", disk_id + " attached to VM '" + vm->spec.name + "'"));
  }
  if (!at_rest(vm->actual)) {
    return fail(StoreError{StoreErrc::invalid_state,
                           "VM '" + vm->spec.name + "' is " + std::string(to_string(vm->actual)) +
                               "; it must be stopped or crashed to detach a disk"});
  }
  auto updated = apply_vm_update(*vm, spec);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

}  // namespace flotilla::storage::sqlite
