// SqliteStateStore: networks and the limits of the NICs on them (schema 6).
#include <string>

#include "common/uuid.h"
#include "storage/sqlite/sqlite_state_store.h"
#include "storage/sqlite/vm_rows.h"

namespace flotilla::storage::sqlite {
namespace {

constexpr const char* kNetworkColumns =
    "SELECT w.id, w.host, w.name, w.bridge, w.bridge_adopted, w.cidr, w.host_address, w.mode, "
    "w.uplink_interface, w.created_at, "
    "(SELECT count(*) FROM vm_nics n WHERE n.network_id = w.id) FROM networks w ";

StoreResult<NetworkRecord> read_network_row(const Query& q) {
  NetworkRecord n;
  n.id = q.column_text(0);
  n.host = q.column_text(1);
  n.name = q.column_text(2);
  n.bridge = q.column_text(3);
  n.bridge_adopted = q.column_int(4) != 0;
  n.cidr = q.column_text(5);
  n.host_address = q.column_text(6);
  const auto mode = network_mode_from_string(q.column_text(7));
  if (!mode) {
    return fail(StoreError{StoreErrc::corrupt, "network " + n.id + " has an unknown mode '" +
                                                   q.column_text(7) + "' in the store"});
  }
  n.mode = *mode;
  n.uplink_interface = q.column_text(8);
  n.created_at = q.column_int(9);
  n.nic_count = static_cast<uint32_t>(q.column_int(10));
  return n;
}

StoreResult<std::vector<NetworkRecord>> network_rows(Query& q) {
  std::vector<NetworkRecord> out;
  for (;;) {
    auto row = q.step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto n = read_network_row(q);
    if (!n) return fail(n.error());
    out.push_back(std::move(*n));
  }
}

StoreResult<NetworkRecord> one_network(Query& q, const std::string& what) {
  auto rows = network_rows(q);
  if (!rows) return fail(rows.error());
  if (rows->empty()) return fail(StoreError{StoreErrc::not_found, "no network " + what});
  return std::move(rows->front());
}

}  // namespace

StoreResult<NetworkRecord> SqliteStateStore::create_network(const NetworkRecord& network) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  NetworkRecord n = network;
  if (n.id.empty()) n.id = make_uuid();
  n.host = host_id_;
  n.created_at = now_ms();
  n.nic_count = 0;
  {
    auto q = db_.query(
        "INSERT INTO networks (id, host, name, bridge, bridge_adopted, cidr, host_address, mode, "
        "uplink_interface, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!q) return fail(q.error());
    q->bind_text(1, n.id).bind_text(2, n.host).bind_text(3, n.name).bind_text(4, n.bridge);
    q->bind_int(5, n.bridge_adopted ? 1 : 0).bind_text(6, n.cidr).bind_text(7, n.host_address);
    q->bind_text(8, to_string(n.mode)).bind_text(9, n.uplink_interface);
    if (auto r = q->bind_int(10, n.created_at).run(); !r) {
      if (!q->failed_on_unique()) return fail(r.error());
      return fail(StoreError{StoreErrc::conflict, "a network named '" + n.name +
                                                      "' or on bridge '" + n.bridge +
                                                      "' already exists on this host"});
    }
  }
  if (auto r = txn->commit(); !r) return fail(r.error());
  return n;
}

StoreResult<NetworkRecord> SqliteStateStore::get_network(const std::string& id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kNetworkColumns) + "WHERE w.id = ?1");
  if (!q) return fail(q.error());
  q->bind_text(1, id);
  return one_network(*q, "with id " + id);
}

StoreResult<NetworkRecord> SqliteStateStore::get_network_by_name(const std::string& name) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kNetworkColumns) +
                     "WHERE w.name = ?1 ORDER BY w.host = ?2 DESC LIMIT 1");
  if (!q) return fail(q.error());
  q->bind_text(1, name).bind_text(2, host_id_);
  return one_network(*q, "named '" + name + "'");
}

StoreResult<std::vector<NetworkRecord>> SqliteStateStore::list_networks() {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kNetworkColumns) + "ORDER BY w.created_at, w.rowid");
  if (!q) return fail(q.error());
  return network_rows(*q);
}

StoreResult<void> SqliteStateStore::delete_network(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  {
    auto q = db_.query(std::string(kNetworkColumns) + "WHERE w.id = ?1");
    if (!q) return fail(q.error());
    q->bind_text(1, id);
    auto n = one_network(*q, "with id " + id);
    if (!n) return fail(n.error());
    if (n->nic_count > 0) {
      return fail(StoreError{StoreErrc::invalid_state,
                             "network '" + n->name + "' is used by " +
                                 std::to_string(n->nic_count) +
                                 " NIC(s); detach them (or delete their VMs) first"});
    }
  }
  {
    auto q = db_.query("DELETE FROM networks WHERE id = ?1");
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, id).run(); !r) return r;
  }
  return txn->commit();
}

StoreResult<VmRecord> SqliteStateStore::set_nic_limits(const std::string& vm_id, size_t index,
                                                       const NicLimits& limits) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto vm = load_vm(vm_id);
  if (!vm) return vm;
  if (index >= vm->spec.nics.size()) {
    return fail(StoreError{StoreErrc::not_found,
                           "VM '" + vm->spec.name + "' has no NIC " + std::to_string(index)});
  }
  VmSpec spec = vm->spec;
  spec.nics[index].limits = limits;
  auto updated = apply_vm_update(*vm, spec);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

}  // namespace flotilla::storage::sqlite
