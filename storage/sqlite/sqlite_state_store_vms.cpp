// SqliteStateStore: the VM records (vms, vm_disks, vm_nics).
#include <string>

#include "common/uuid.h"
#include "storage/sqlite/sqlite_state_store.h"
#include "storage/sqlite/vm_rows.h"

namespace flotilla::storage::sqlite {
namespace {

StoreError name_taken(const std::string& name) {
  return StoreError{StoreErrc::conflict, "a VM named '" + name + "' already exists on this host"};
}

StoreError vm_not_found(const std::string& what) {
  return StoreError{StoreErrc::not_found, "no VM " + what};
}

bool is_at_rest(VmState s) {
  return s == VmState::stopped || s == VmState::crashed;
}

StoreError not_at_rest(const VmRecord& vm, const char* action) {
  return StoreError{StoreErrc::invalid_state, "VM '" + vm.spec.name + "' is " +
                                                  std::string(to_string(vm.actual)) +
                                                  "; it must be stopped or crashed to " + action};
}

// The CPU policy is the one part of a definition a running VM takes at once (the scheduler
// re-applies it); everything else waits for a stop.
bool only_live_changes(const VmSpec& current, VmSpec next) {
  next.cpu = current.cpu;
  return next == current;
}

// Runs a one-row VM select (parameters already bound) and loads the children.
StoreResult<VmRecord> one_vm(SqliteDb& db, Query& q, const std::string& what) {
  auto row = q.step();
  if (!row) return fail(row.error());
  if (!*row) return fail(vm_not_found(what));
  auto vm = read_vm_row(q);
  if (!vm) return vm;
  if (auto r = read_vm_children(db, *vm); !r) return fail(r.error());
  return vm;
}

}  // namespace

StoreResult<VmRecord> SqliteStateStore::load_vm(const std::string& id) {
  auto q = db_.query(std::string(kVmColumns) + "FROM vms WHERE id = ?1");
  if (!q) return fail(q.error());
  q->bind_text(1, id);
  return one_vm(db_, *q, "with id " + id);
}

// Names are unique per host; a name held by VMs of several hosts resolves to this host's.
StoreResult<VmRecord> SqliteStateStore::load_vm_by_name(const std::string& name) {
  auto q = db_.query(std::string(kVmColumns) +
                     "FROM vms WHERE name = ?1 ORDER BY host = ?2 DESC LIMIT 1");
  if (!q) return fail(q.error());
  q->bind_text(1, name).bind_text(2, host_id_);
  return one_vm(db_, *q, "named '" + name + "'");
}

StoreResult<VmRecord> SqliteStateStore::create_vm(const VmSpec& spec) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  VmRecord vm;
  vm.id = make_uuid();
  vm.host = host_id_;
  vm.spec = spec;
  vm.created_at = vm.updated_at = now_ms();
  {
    auto q = db_.query(kInsertVmSql);
    if (!q) return fail(q.error());
    q->bind_text(1, vm.id).bind_text(2, vm.host).bind_int(15, vm.created_at);
    bind_vm_spec(*q, spec);
    if (auto r = q->run(); !r)
      return fail(q->failed_on_unique() ? name_taken(spec.name) : r.error());
  }
  if (auto r = write_vm_children(db_, vm.id, spec); !r) return fail(r.error());
  if (auto r = txn->commit(); !r) return fail(r.error());
  return vm;
}

StoreResult<VmRecord> SqliteStateStore::get_vm(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);  // the row and its children from one snapshot
  if (!txn) return fail(txn.error());
  return load_vm(id);
}

StoreResult<VmRecord> SqliteStateStore::get_vm_by_name(const std::string& name) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);
  if (!txn) return fail(txn.error());
  return load_vm_by_name(name);
}

StoreResult<std::vector<VmRecord>> SqliteStateStore::list_vms() {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::read);
  if (!txn) return fail(txn.error());
  std::vector<VmRecord> vms;
  {
    auto q = db_.query(std::string(kVmColumns) + "FROM vms ORDER BY created_at, rowid");
    if (!q) return fail(q.error());
    for (;;) {
      auto row = q->step();
      if (!row) return fail(row.error());
      if (!*row) break;
      auto vm = read_vm_row(*q);
      if (!vm) return fail(vm.error());
      vms.push_back(std::move(*vm));
    }
  }
  if (auto r = read_all_vm_children(db_, vms); !r) return fail(r.error());
  return vms;
}

StoreResult<VmRecord> SqliteStateStore::apply_vm_update(const VmRecord& current,
                                                        const VmSpec& spec) {
  {
    auto q = db_.query(kUpdateVmSql);
    if (!q) return fail(q.error());
    q->bind_text(1, current.id)
        .bind_int(2, static_cast<int64_t>(current.generation))
        .bind_int(15, now_ms());
    bind_vm_spec(*q, spec);
    if (auto r = q->run(); !r)
      return fail(q->failed_on_unique() ? name_taken(spec.name) : r.error());
  }
  if (auto r = write_vm_children(db_, current.id, spec); !r) return fail(r.error());
  return load_vm(current.id);
}

StoreResult<VmRecord> SqliteStateStore::update_vm(const std::string& id, const VmSpec& spec,
                                                  std::optional<uint64_t> expected_generation) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto current = load_vm(id);
  if (!current) return current;
  if (expected_generation && *expected_generation != current->generation) {
    return fail(StoreError{StoreErrc::conflict, "VM '" + current->spec.name +
                                                    "' is at generation " +
                                                    std::to_string(current->generation) + ", not " +
                                                    std::to_string(*expected_generation)});
  }
  if (!is_at_rest(current->actual) && !only_live_changes(current->spec, spec)) {
    return fail(StoreError{StoreErrc::invalid_state,
                           "VM '" + current->spec.name + "' is " +
                               std::string(to_string(current->actual)) +
                               "; only its cpu policy can change while it runs (stop it to "
                               "change the rest of its definition)"});
  }
  auto updated = apply_vm_update(*current, spec);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

// column is one of two fixed names, never input.
StoreResult<VmRecord> SqliteStateStore::write_vm_state(const std::string& id, const char* column,
                                                       VmState to, const std::string* reason) {
  {
    auto q = db_.query(std::string("UPDATE vms SET ") + column + " = ?2, updated_at = ?3" +
                       (reason ? ", state_reason = ?4" : "") + " WHERE id = ?1");
    if (!q) return fail(q.error());
    q->bind_text(1, id).bind_text(2, to_string(to)).bind_int(3, now_ms());
    if (reason) q->bind_text(4, *reason);
    if (auto r = q->run(); !r) return fail(r.error());
  }
  return load_vm(id);
}

StoreResult<VmRecord> SqliteStateStore::set_vm_state(const std::string& id, VmState to) {
  return record_vm_state(id, to, "");
}

StoreResult<VmRecord> SqliteStateStore::record_vm_state(const std::string& id, VmState to,
                                                        const std::string& reason) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto current = load_vm(id);
  if (!current) return current;
  if (!valid_transition(current->actual, to)) {
    return fail(StoreError{StoreErrc::invalid_state, "VM '" + current->spec.name +
                                                         "' cannot go from " +
                                                         std::string(to_string(current->actual)) +
                                                         " to " + std::string(to_string(to))});
  }
  auto updated = write_vm_state(id, "actual_state", to, &reason);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

StoreResult<VmRecord> SqliteStateStore::set_vm_desired_state(const std::string& id, VmState to) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  if (auto current = load_vm(id); !current) return current;
  auto updated = write_vm_state(id, "desired_state", to);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

StoreResult<void> SqliteStateStore::delete_vm(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto current = load_vm(id);
  if (!current) return fail(current.error());
  if (!is_at_rest(current->actual)) return fail(not_at_rest(*current, "be deleted"));
  {
    auto q = db_.query("DELETE FROM vms WHERE id = ?1");  // disks and NICs cascade
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, id).run(); !r) return r;
  }
  return txn->commit();
}

}  // namespace flotilla::storage::sqlite
