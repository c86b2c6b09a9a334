#include "storage/sqlite/schema.h"

#include <spdlog/spdlog.h>

#include <array>
#include <filesystem>
#include <system_error>

namespace flotilla::storage::sqlite {
namespace {

// Migration 1: the first release's schema. Disks and NICs were JSON arrays on the VM row, names
// were unique across the whole file, and there was no CPU/memory/restart policy yet.
constexpr const char* kV1Sql = R"sql(
CREATE TABLE vms (
  id            TEXT PRIMARY KEY NOT NULL,
  name          TEXT NOT NULL UNIQUE,
  vcpus         INTEGER NOT NULL,
  memory_mib    INTEGER NOT NULL,
  kernel        TEXT NOT NULL,
  initrd        TEXT NOT NULL DEFAULT '',
  cmdline       TEXT NOT NULL DEFAULT '',
  disks         TEXT NOT NULL DEFAULT '[]',
  nics          TEXT NOT NULL DEFAULT '[]',
  desired_state TEXT NOT NULL DEFAULT 'stopped',
  actual_state  TEXT NOT NULL DEFAULT 'stopped',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  generation    INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE tokens (
  id            TEXT PRIMARY KEY NOT NULL,
  name          TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('viewer', 'helpdesk', 'operator', 'admin')),
  secret_sha256 TEXT NOT NULL UNIQUE CHECK (length(secret_sha256) = 64),
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL DEFAULT 0,
  revoked       INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE TABLE audit_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  target     TEXT NOT NULL DEFAULT '',
  result     TEXT NOT NULL,
  request_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE operations (
  id         TEXT PRIMARY KEY NOT NULL,
  kind       TEXT NOT NULL,
  target     TEXT NOT NULL DEFAULT '',
  state      TEXT NOT NULL
             CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  progress   INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  error      TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX operations_by_created ON operations (created_at);
)sql";

// Migration 2, part 1: the VM table rebuilt (SQLite's "12 steps": new table, copy, drop, rename)
// with a host column, names unique per host, the CPU/memory/restart policy and CHECKed states.
constexpr const char* kV2VmsSql = R"sql(
CREATE TABLE vms_v2 (
  id                  TEXT PRIMARY KEY NOT NULL,
  host                TEXT NOT NULL,
  name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
  vcpus               INTEGER NOT NULL CHECK (vcpus >= 1),
  memory_mib          INTEGER NOT NULL CHECK (memory_mib >= 1),
  kernel              TEXT NOT NULL,
  initrd              TEXT NOT NULL DEFAULT '',
  cmdline             TEXT NOT NULL DEFAULT '',
  cpu_mode            TEXT NOT NULL DEFAULT 'timeshare'
                      CHECK (cpu_mode IN ('timeshare', 'partition')),
  cpu_weight          INTEGER NOT NULL DEFAULT 100 CHECK (cpu_weight >= 1),
  cpu_cap_percent     INTEGER NOT NULL DEFAULT 0 CHECK (cpu_cap_percent >= 0),
  cpu_dedicated_cores INTEGER NOT NULL DEFAULT 0 CHECK (cpu_dedicated_cores >= 0),
  memory_mode         TEXT NOT NULL DEFAULT 'shared' CHECK (memory_mode IN ('shared', 'reserved')),
  restart_policy      TEXT NOT NULL DEFAULT 'never'
                      CHECK (restart_policy IN ('never', 'on-crash', 'always')),
  desired_state       TEXT NOT NULL DEFAULT 'stopped' CHECK (desired_state IN
                      ('stopped', 'starting', 'running', 'paused', 'stopping', 'crashed')),
  actual_state        TEXT NOT NULL DEFAULT 'stopped' CHECK (actual_state IN
                      ('stopped', 'starting', 'running', 'paused', 'stopping', 'crashed')),
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  generation          INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
  UNIQUE (host, name)
);
)sql";

// ?1 = this host's id: every VM of a v1 file was created by the host that owns the file.
constexpr const char* kV2CopyVmsSql = R"sql(
INSERT INTO vms_v2 (id, host, name, vcpus, memory_mib, kernel, initrd, cmdline,
                    desired_state, actual_state, created_at, updated_at, generation)
SELECT id, ?1, name, vcpus, memory_mib, kernel, initrd, cmdline,
       desired_state, actual_state, created_at, updated_at, generation
FROM vms
)sql";

// Migration 2, part 2: disks and NICs move from JSON columns to child tables. They reference
// vms_v2, which the rename below turns into vms (SQLite rewrites the references).
constexpr const char* kV2ChildrenSql = R"sql(
CREATE TABLE vm_disks (
  vm_id     TEXT NOT NULL REFERENCES vms_v2 (id) ON DELETE CASCADE,
  idx       INTEGER NOT NULL CHECK (idx >= 0),
  path      TEXT NOT NULL,
  read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
  PRIMARY KEY (vm_id, idx)
);
CREATE TABLE vm_nics (
  vm_id   TEXT NOT NULL REFERENCES vms_v2 (id) ON DELETE CASCADE,
  idx     INTEGER NOT NULL CHECK (idx >= 0),
  network TEXT NOT NULL,
  mac     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (vm_id, idx)
);
INSERT INTO vm_disks (vm_id, idx, path, read_only)
SELECT vms.id, d.key, coalesce(json_extract(d.value, '$.path'), ''),
       coalesce(json_extract(d.value, '$.read_only'), 0) != 0
FROM vms, json_each(vms.disks) AS d;
INSERT INTO vm_nics (vm_id, idx, network, mac)
SELECT vms.id, n.key, coalesce(json_extract(n.value, '$.network'), ''),
       coalesce(json_extract(n.value, '$.mac'), '')
FROM vms, json_each(vms.nics) AS n;
DROP TABLE vms;
ALTER TABLE vms_v2 RENAME TO vms;
CREATE INDEX vms_by_name ON vms (name);
)sql";

// Migration 3: the audit log is append-only in the file itself, not just by convention.
constexpr const char* kV3Sql = R"sql(
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE INDEX operations_by_target ON operations (target);
)sql";

// Migration 4: why a VM is in its state (a crash's exit status and last console lines).
constexpr const char* kV4Sql = R"sql(
ALTER TABLE vms ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
)sql";

// Migration 5: disk pools, their disks and the extents of partitioned pools; a VM's disk may
// name a pool disk (path-only attachments stay valid, disk_id NULL). A disk attached to a VM,
// a disk another one is backed by, and a pool that holds disks cannot be deleted (RESTRICT), and
// a disk is attached to at most one VM (the partial unique index).
constexpr const char* kV5Sql = R"sql(
CREATE TABLE pools (
  id             TEXT PRIMARY KEY NOT NULL,
  host           TEXT NOT NULL,
  name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
  type           TEXT NOT NULL CHECK (type IN ('dir', 'partitioned')),
  path           TEXT NOT NULL CHECK (length(path) >= 1),
  capacity_bytes INTEGER NOT NULL DEFAULT 0 CHECK (capacity_bytes >= 0),
  created_at     INTEGER NOT NULL,
  UNIQUE (host, name)
);
CREATE TABLE disks (
  id              TEXT PRIMARY KEY NOT NULL,
  host            TEXT NOT NULL,
  name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
  pool_id         TEXT NOT NULL REFERENCES pools (id) ON DELETE RESTRICT,
  format          TEXT NOT NULL CHECK (format IN ('raw', 'qcow2')),
  size_bytes      INTEGER NOT NULL CHECK (size_bytes > 0),
  path            TEXT NOT NULL DEFAULT '',
  backing_disk_id TEXT REFERENCES disks (id) ON DELETE RESTRICT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  generation      INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1),
  UNIQUE (host, name)
);
CREATE INDEX disks_by_pool ON disks (pool_id);
CREATE INDEX disks_by_backing ON disks (backing_disk_id);
CREATE TABLE disk_extents (
  disk_id     TEXT NOT NULL REFERENCES disks (id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL CHECK (idx >= 0),
  host_offset INTEGER NOT NULL CHECK (host_offset >= 0),
  length      INTEGER NOT NULL CHECK (length > 0),
  PRIMARY KEY (disk_id, idx)
);
ALTER TABLE vm_disks ADD COLUMN disk_id TEXT REFERENCES disks (id) ON DELETE RESTRICT;
CREATE UNIQUE INDEX vm_disks_by_disk ON vm_disks (disk_id) WHERE disk_id IS NOT NULL;
)sql";

// Migration 6: networks (bridges with an IPv4 range) and what a NIC leases from one: its
// network, its IPv4 address (unique per network) and its rate limits. A MAC is unique across
// the file (older duplicate MACs are cleared first: the daemon allocates new ones). A network
// its NICs still use cannot be deleted (RESTRICT); NIC rows from before networks keep
// network_id NULL and name their network by text, as they did.
constexpr const char* kV6Sql = R"sql(
CREATE TABLE networks (
  id               TEXT PRIMARY KEY NOT NULL,
  host             TEXT NOT NULL,
  name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),
  bridge           TEXT NOT NULL CHECK (length(bridge) BETWEEN 1 AND 15),
  bridge_adopted   INTEGER NOT NULL DEFAULT 0 CHECK (bridge_adopted IN (0, 1)),
  cidr             TEXT NOT NULL,
  host_address     TEXT NOT NULL DEFAULT '',
  mode             TEXT NOT NULL CHECK (mode IN ('isolated', 'uplink')),
  uplink_interface TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  UNIQUE (host, name),
  UNIQUE (host, bridge)
);
ALTER TABLE vm_nics ADD COLUMN network_id TEXT REFERENCES networks (id) ON DELETE RESTRICT;
ALTER TABLE vm_nics ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE vm_nics ADD COLUMN rx_bytes_per_sec INTEGER NOT NULL DEFAULT 0
  CHECK (rx_bytes_per_sec >= 0);
ALTER TABLE vm_nics ADD COLUMN rx_packets_per_sec INTEGER NOT NULL DEFAULT 0
  CHECK (rx_packets_per_sec >= 0);
ALTER TABLE vm_nics ADD COLUMN tx_bytes_per_sec INTEGER NOT NULL DEFAULT 0
  CHECK (tx_bytes_per_sec >= 0);
ALTER TABLE vm_nics ADD COLUMN tx_packets_per_sec INTEGER NOT NULL DEFAULT 0
  CHECK (tx_packets_per_sec >= 0);
UPDATE vm_nics SET mac = lower(mac);
UPDATE vm_nics SET mac = '' WHERE mac != '' AND rowid NOT IN
  (SELECT min(rowid) FROM vm_nics WHERE mac != '' GROUP BY mac);
CREATE UNIQUE INDEX vm_nics_by_mac ON vm_nics (mac) WHERE mac != '';
CREATE UNIQUE INDEX vm_nics_by_ip ON vm_nics (network_id, ip)
  WHERE network_id IS NOT NULL AND ip != '';
CREATE INDEX vm_nics_by_network ON vm_nics (network_id);
)sql";

StoreResult<void> migrate_v1(SqliteDb& db, const StoreOptions& /*options*/) {
  return db.exec(kV1Sql);
}

StoreResult<void> migrate_v2(SqliteDb& db, const StoreOptions& options) {
  if (auto r = db.exec(kV2VmsSql); !r) return r;
  auto copy = db.query(kV2CopyVmsSql);
  if (!copy) return fail(copy.error());
  if (auto r = copy->bind_text(1, options.host_id).run(); !r) return r;
  return db.exec(kV2ChildrenSql);
}

StoreResult<void> migrate_v3(SqliteDb& db, const StoreOptions& /*options*/) {
  return db.exec(kV3Sql);
}

StoreResult<void> migrate_v4(SqliteDb& db, const StoreOptions& /*options*/) {
  return db.exec(kV4Sql);
}

StoreResult<void> migrate_v5(SqliteDb& db, const StoreOptions& /*options*/) {
  return db.exec(kV5Sql);
}

StoreResult<void> migrate_v6(SqliteDb& db, const StoreOptions& /*options*/) {
  return db.exec(kV6Sql);
}

struct Migration {
  int version;
  const char* what;
  StoreResult<void> (*apply)(SqliteDb&, const StoreOptions&);
};

constexpr std::array<Migration, 6> kMigrations{{
    {1, "vms, tokens, audit_log, operations", migrate_v1},
    {2, "host column, per-host names, policies, vm_disks and vm_nics", migrate_v2},
    {3, "append-only audit_log", migrate_v3},
    {4, "vms.state_reason", migrate_v4},
    {5, "pools, disks, disk_extents, vm_disks.disk_id", migrate_v5},
    {6, "networks; vm_nics network_id, ip, limits; unique MACs", migrate_v6},
}};

StoreError corrupt(std::string message) {
  return StoreError{StoreErrc::corrupt, std::move(message)};
}

StoreError newer_schema(const std::string& path, int64_t version) {
  return corrupt(path + " has schema version " + std::to_string(version) +
                 ", newer than this build's " + std::to_string(latest_schema_version()) +
                 "; refusing to open it with an older flotillad");
}

StoreResult<void> make_parent_folder(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return fail(StoreError{StoreErrc::io, "creating " + parent.string() + ": " + ec.message()});
  }
  return {};
}

// Reads the header before anything writes to the file, so a file we refuse stays byte-for-byte
// as it was. A fresh file has application_id 0, user_version 0 and no schema objects.
StoreResult<int64_t> check_ownership(SqliteDb& db, const std::string& path) {
  auto app_id = db.pragma_int("application_id");
  if (!app_id) {
    if (app_id.error().code == StoreErrc::corrupt) {
      return fail(
          corrupt(path + " is not a Flotilla state store (" + app_id.error().message + ")"));
    }
    return fail(app_id.error());
  }
  auto version = db.pragma_int("user_version");
  if (!version) return fail(version.error());
  auto objects = db.query("SELECT count(*) FROM sqlite_schema");
  if (!objects) return fail(objects.error());
  auto row = objects->step();
  if (!row) return fail(row.error());
  const bool empty = objects->column_int(0) == 0 && *version == 0;
  if (*app_id != kApplicationId && !(*app_id == 0 && empty)) {
    return fail(corrupt(path + " belongs to another application (application_id " +
                        std::to_string(*app_id) + "), not a Flotilla state store"));
  }
  if (*version > latest_schema_version()) return fail(newer_schema(path, *version));
  return *version;
}

StoreResult<void> set_connection_pragmas(SqliteDb& db, const StoreOptions& options) {
  db.set_busy_timeout(options.busy_timeout_ms);
  auto mode = db.query("PRAGMA journal_mode = WAL");
  if (!mode) return fail(mode.error());
  auto row = mode->step();
  if (!row) return fail(row.error());
  if (!*row || mode->column_text(0) != "wal") {
    return fail(StoreError{StoreErrc::io, options.path + ": WAL journal mode is not available"});
  }
  return db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
}

StoreResult<void> check_foreign_keys(SqliteDb& db, const Migration& m) {
  auto q = db.query("PRAGMA foreign_key_check");
  if (!q) return fail(q.error());
  auto row = q->step();
  if (!row) return fail(row.error());
  if (*row) {
    return fail(corrupt("migration " + std::to_string(m.version) +
                        " left a dangling reference in " + q->column_text(0)));
  }
  return {};
}

// One migration in one transaction, with user_version (and, for the first, application_id) set
// inside it, so a crash leaves the file at the old or the new version, never between.
StoreResult<void> apply_migration(SqliteDb& db, const StoreOptions& options, const Migration& m) {
  auto txn = Txn::begin(db, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  // Another process may have migrated while we waited for the write lock.
  auto current = db.pragma_int("user_version");
  if (!current) return fail(current.error());
  if (*current > latest_schema_version()) return fail(newer_schema(options.path, *current));
  if (*current >= m.version) return txn->commit();
  if (auto r = m.apply(db, options); !r) return r;
  if (auto r = check_foreign_keys(db, m); !r) return r;
  std::string stamp = "PRAGMA user_version = " + std::to_string(m.version) + ";";
  if (m.version == 1) stamp += "PRAGMA application_id = " + std::to_string(kApplicationId) + ";";
  if (auto r = db.exec(stamp); !r) return r;
  if (auto r = txn->commit(); !r) return r;
  spdlog::info("state store {}: migrated to schema {} ({})", options.path, m.version, m.what);
  return {};
}

}  // namespace

int latest_schema_version() {
  return kMigrations.back().version;
}

const std::string& v1_schema_sql() {
  static const std::string sql(kV1Sql);
  return sql;
}

StoreResult<SqliteDb> open_database(const StoreOptions& options) {
  if (options.path.empty()) return fail(StoreError{StoreErrc::io, "no state store path given"});
  if (auto r = make_parent_folder(options.path); !r) return fail(r.error());
  auto db = SqliteDb::open_file(options.path);
  if (!db) return fail(db.error());
  db->set_busy_timeout(options.busy_timeout_ms);
  auto version = check_ownership(*db, options.path);
  if (!version) return fail(version.error());
  if (auto r = set_connection_pragmas(*db, options); !r) return fail(r.error());
  for (const Migration& m : kMigrations) {
    if (m.version <= *version) continue;
    if (auto r = apply_migration(*db, options, m); !r) {
      StoreError e = r.error();
      // A row the new schema's constraints reject: the file holds data we cannot carry forward.
      if (e.code == StoreErrc::conflict) e.code = StoreErrc::corrupt;
      e.message = "migrating " + options.path + " to schema " + std::to_string(m.version) + ": " +
                  e.message;
      return fail(std::move(e));
    }
  }
  return std::move(*db);
}

}  // namespace flotilla::storage::sqlite
