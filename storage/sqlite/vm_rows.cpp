#include "storage/sqlite/vm_rows.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

namespace flotilla::storage::sqlite {
namespace {

template <class E, size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<CpuMode, 2> kCpuModes{
    {{CpuMode::timeshare, "timeshare"}, {CpuMode::partition, "partition"}}};
constexpr Names<MemoryMode, 2> kMemoryModes{
    {{MemoryMode::shared, "shared"}, {MemoryMode::reserved, "reserved"}}};
constexpr Names<RestartPolicy, 3> kRestartPolicies{{{RestartPolicy::never, "never"},
                                                    {RestartPolicy::on_crash, "on-crash"},
                                                    {RestartPolicy::always, "always"}}};

template <class E, size_t N>
std::string_view name_of(const Names<E, N>& names, E value) {
  for (const auto& [v, n] : names) {
    if (v == value) return n;
  }
  return names[0].second;  // unreachable for values of the enum
}

template <class E, size_t N>
std::optional<E> parse(const Names<E, N>& names, std::string_view text) {
  for (const auto& [v, n] : names) {
    if (n == text) return v;
  }
  return std::nullopt;
}

StoreError bad_column(const std::string& id, const char* column, const std::string& value) {
  return StoreError{StoreErrc::corrupt,
                    "VM " + id + " has an unknown " + column + " '" + value + "' in the store"};
}

// Reads the enum-valued columns; everything else in read_vm_row cannot be out of range.
StoreResult<void> read_vm_enums(const Query& q, VmRecord& r) {
  const auto cpu = parse(kCpuModes, q.column_text(8));
  const auto memory = parse(kMemoryModes, q.column_text(12));
  const auto restart = parse(kRestartPolicies, q.column_text(13));
  const auto desired = vm_state_from_string(q.column_text(14));
  const auto actual = vm_state_from_string(q.column_text(15));
  if (!cpu) return fail(bad_column(r.id, "cpu_mode", q.column_text(8)));
  if (!memory) return fail(bad_column(r.id, "memory_mode", q.column_text(12)));
  if (!restart) return fail(bad_column(r.id, "restart_policy", q.column_text(13)));
  if (!desired) return fail(bad_column(r.id, "desired_state", q.column_text(14)));
  if (!actual) return fail(bad_column(r.id, "actual_state", q.column_text(15)));
  r.spec.cpu.mode = *cpu;
  r.spec.memory.mode = *memory;
  r.spec.restart = *restart;
  r.desired = *desired;
  r.actual = *actual;
  return {};
}

}  // namespace

const char* const kVmColumns =
    "SELECT id, host, name, vcpus, memory_mib, kernel, initrd, cmdline, cpu_mode, cpu_weight, "
    "cpu_cap_percent, cpu_dedicated_cores, memory_mode, restart_policy, desired_state, "
    "actual_state, created_at, updated_at, generation, state_reason ";

const char* const kInsertVmSql =
    "INSERT INTO vms (id, host, name, vcpus, memory_mib, kernel, initrd, cmdline, cpu_mode, "
    "cpu_weight, cpu_cap_percent, cpu_dedicated_cores, memory_mode, restart_policy, "
    "desired_state, actual_state, created_at, updated_at, generation) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
    "'stopped', 'stopped', ?15, ?15, 1)";

// ?1 id, ?2 the generation the caller read (the WHERE makes the check and the write one step).
const char* const kUpdateVmSql =
    "UPDATE vms SET name = ?3, vcpus = ?4, memory_mib = ?5, kernel = ?6, initrd = ?7, "
    "cmdline = ?8, cpu_mode = ?9, cpu_weight = ?10, cpu_cap_percent = ?11, "
    "cpu_dedicated_cores = ?12, memory_mode = ?13, restart_policy = ?14, updated_at = ?15, "
    "generation = generation + 1 WHERE id = ?1 AND generation = ?2";

StoreResult<VmRecord> read_vm_row(const Query& q) {
  VmRecord r;
  r.id = q.column_text(0);
  r.host = q.column_text(1);
  r.spec.name = q.column_text(2);
  r.spec.vcpus = static_cast<uint32_t>(q.column_int(3));
  r.spec.memory_mib = static_cast<uint64_t>(q.column_int(4));
  r.spec.boot.kernel = q.column_text(5);
  r.spec.boot.initrd = q.column_text(6);
  r.spec.boot.cmdline = q.column_text(7);
  r.spec.cpu.weight = static_cast<uint32_t>(q.column_int(9));
  r.spec.cpu.cap_percent = static_cast<uint32_t>(q.column_int(10));
  r.spec.cpu.dedicated_cores = static_cast<uint32_t>(q.column_int(11));
  if (auto e = read_vm_enums(q, r); !e) return fail(e.error());
  r.created_at = q.column_int(16);
  r.updated_at = q.column_int(17);
  r.generation = static_cast<uint64_t>(q.column_int(18));
  r.state_reason = q.column_text(19);
  return r;
}

void bind_vm_spec(Query& q, const VmSpec& spec) {
  q.bind_text(3, spec.name)
      .bind_int(4, spec.vcpus)
      .bind_int(5, static_cast<int64_t>(spec.memory_mib))
      .bind_text(6, spec.boot.kernel)
      .bind_text(7, spec.boot.initrd)
      .bind_text(8, spec.boot.cmdline)
      .bind_text(9, name_of(kCpuModes, spec.cpu.mode))
      .bind_int(10, spec.cpu.weight)
      .bind_int(11, spec.cpu.cap_percent)
      .bind_int(12, spec.cpu.dedicated_cores)
      .bind_text(13, name_of(kMemoryModes, spec.memory.mode))
      .bind_text(14, name_of(kRestartPolicies, spec.restart));
}

namespace {

int64_t as_int(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX));
}

StoreResult<void> write_nic(SqliteDb& db, const std::string& vm_id, size_t i,
                            const NicAttachment& n) {
  auto q = db.query(
      "INSERT INTO vm_nics (vm_id, idx, network, mac, network_id, ip, rx_bytes_per_sec, "
      "rx_packets_per_sec, tx_bytes_per_sec, tx_packets_per_sec) "
      "VALUES (?1, ?2, ?3, ?4, NULLIF(?5, ''), ?6, ?7, ?8, ?9, ?10)");
  if (!q) return fail(q.error());
  q->bind_text(1, vm_id).bind_int(2, static_cast<int64_t>(i)).bind_text(3, n.network);
  q->bind_text(4, n.mac).bind_text(5, n.network_id).bind_text(6, n.ip);
  q->bind_int(7, as_int(n.limits.rx_bytes_per_sec))
      .bind_int(8, as_int(n.limits.rx_packets_per_sec));
  q->bind_int(9, as_int(n.limits.tx_bytes_per_sec));
  if (auto r = q->bind_int(10, as_int(n.limits.tx_packets_per_sec)).run(); !r) {
    if (!q->failed_on_unique()) return r;
    return fail(StoreError{StoreErrc::conflict, "nics[" + std::to_string(i) + "]: MAC " + n.mac +
                                                    (n.ip.empty() ? "" : " or IP " + n.ip) +
                                                    " is already used by another NIC"});
  }
  return {};
}

}  // namespace

StoreResult<void> write_vm_children(SqliteDb& db, const std::string& vm_id, const VmSpec& spec) {
  for (const char* sql :
       {"DELETE FROM vm_disks WHERE vm_id = ?1", "DELETE FROM vm_nics WHERE vm_id = ?1"}) {
    auto q = db.query(sql);
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, vm_id).run(); !r) return r;
  }
  for (size_t i = 0; i < spec.disks.size(); ++i) {
    auto q = db.query(
        "INSERT INTO vm_disks (vm_id, idx, path, read_only, disk_id) "
        "VALUES (?1, ?2, ?3, ?4, NULLIF(?5, ''))");
    if (!q) return fail(q.error());
    q->bind_text(1, vm_id).bind_int(2, static_cast<int64_t>(i)).bind_text(3, spec.disks[i].path);
    q->bind_text(5, spec.disks[i].disk_id);
    if (auto r = q->bind_int(4, spec.disks[i].read_only ? 1 : 0).run(); !r) return r;
  }
  for (size_t i = 0; i < spec.nics.size(); ++i) {
    if (auto r = write_nic(db, vm_id, i, spec.nics[i]); !r) return r;
  }
  return {};
}

namespace {

// Runs a children query (?1 bound by the caller or absent) and hands each row to add(vm_id, q).
template <class Add>
StoreResult<void> each_child(Query& q, Add add) {
  for (;;) {
    auto row = q.step();
    if (!row) return fail(row.error());
    if (!*row) return {};
    add(q.column_text(0), q);
  }
}

DiskAttachment disk_from(const Query& q) {
  return {q.column_text(1), q.column_int(2) != 0, q.column_text(3)};
}
NicAttachment nic_from(const Query& q) {
  NicAttachment n{q.column_text(1), q.column_text(2), q.column_text(3), q.column_text(4), {}};
  n.limits = {static_cast<uint64_t>(q.column_int(5)), static_cast<uint64_t>(q.column_int(6)),
              static_cast<uint64_t>(q.column_int(7)), static_cast<uint64_t>(q.column_int(8))};
  return n;
}

// NIC rows with their network's current name (a pre-network row keeps its own text).
constexpr const char* kNicColumns =
    "SELECT n.vm_id, coalesce(w.name, n.network), n.mac, coalesce(n.network_id, ''), n.ip, "
    "n.rx_bytes_per_sec, n.rx_packets_per_sec, n.tx_bytes_per_sec, n.tx_packets_per_sec "
    "FROM vm_nics n LEFT JOIN networks w ON w.id = n.network_id ";

}  // namespace

StoreResult<void> read_vm_children(SqliteDb& db, VmRecord& record) {
  record.spec.disks.clear();
  record.spec.nics.clear();
  auto disks = db.query(
      "SELECT vm_id, path, read_only, coalesce(disk_id, '') FROM vm_disks WHERE vm_id = ?1 "
      "ORDER BY idx");
  if (!disks) return fail(disks.error());
  disks->bind_text(1, record.id);
  auto add_disk = [&](const std::string&, const Query& q) {
    record.spec.disks.push_back(disk_from(q));
  };
  if (auto r = each_child(*disks, add_disk); !r) return r;
  auto nics = db.query(std::string(kNicColumns) + "WHERE n.vm_id = ?1 ORDER BY n.idx");
  if (!nics) return fail(nics.error());
  nics->bind_text(1, record.id);
  auto add_nic = [&](const std::string&, const Query& q) {
    record.spec.nics.push_back(nic_from(q));
  };
  return each_child(*nics, add_nic);
}

StoreResult<void> read_all_vm_children(SqliteDb& db, std::vector<VmRecord>& records) {
  std::unordered_map<std::string, VmRecord*> by_id;
  for (VmRecord& r : records) by_id.emplace(r.id, &r);
  auto disks = db.query(
      "SELECT vm_id, path, read_only, coalesce(disk_id, '') FROM vm_disks "
      "ORDER BY vm_id, idx");
  if (!disks) return fail(disks.error());
  auto add_disk = [&](const std::string& id, const Query& q) {
    if (auto it = by_id.find(id); it != by_id.end()) it->second->spec.disks.push_back(disk_from(q));
  };
  if (auto r = each_child(*disks, add_disk); !r) return r;
  auto nics = db.query(std::string(kNicColumns) + "ORDER BY n.vm_id, n.idx");
  if (!nics) return fail(nics.error());
  auto add_nic = [&](const std::string& id, const Query& q) {
    if (auto it = by_id.find(id); it != by_id.end()) it->second->spec.nics.push_back(nic_from(q));
  };
  return each_child(*nics, add_nic);
}

}  // namespace flotilla::storage::sqlite
