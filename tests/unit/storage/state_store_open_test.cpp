// Opening: the connection's settings, migrations from a v1 file, and files the store must refuse
// while leaving them exactly as they were.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "storage/sqlite/schema.h"
#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using sqlite::kApplicationId;
using sqlite::latest_schema_version;
using test::open_store;
using test::read_file;
using test::TempDir;

// Direct SQLite access, standing in for an older flotillad or another program.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << "open " << path;
  }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err != nullptr ? err : "?");
    }
    sqlite3_free(err);
  }
  int rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    int n = 0;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    }
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) ++n;
    sqlite3_finalize(stmt);
    return n;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    } else {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

StoreError open_error(const std::string& path) {
  auto store = StateStore::open(StoreOptions{path, 1000, "host-a"});
  if (store.ok()) return StoreError{StoreErrc::io, "unexpectedly opened"};
  return store.error();
}

TEST(StoreOpenTest, CreatesFolderAndUsesWalAndOurApplicationId) {
  TempDir dir;
  const std::string path = dir.file("deep/er/flotilla.db");
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  EXPECT_EQ(*store->integrity_check(), "ok");
  ASSERT_TRUE(store->create_vm(test::sample_spec("a")).ok());
  EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("PRAGMA application_id"), std::to_string(kApplicationId));
  EXPECT_EQ(raw.text("PRAGMA user_version"), std::to_string(latest_schema_version()));
}

TEST(StoreOpenTest, EmptyPathIsAnError) {
  auto store = StateStore::open(StoreOptions{"", 1000, "h"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, StoreErrc::io);
}

// A file written by the first release: exactly the v1 SQL, with rows in every table.
void write_v1_file(const std::string& path) {
  RawDb raw(path);
  raw.exec("PRAGMA journal_mode = WAL");
  raw.exec("BEGIN; " + sqlite::v1_schema_sql() +
           "PRAGMA user_version = 1; PRAGMA application_id = " + std::to_string(kApplicationId) +
           "; COMMIT;");
  raw.exec(R"sql(
INSERT INTO vms (id, name, vcpus, memory_mib, kernel, initrd, cmdline, disks, nics,
                 desired_state, actual_state, created_at, updated_at, generation)
VALUES ('11111111-1111-4111-8111-111111111111', 'old-web', 2, 512, '/k/vmlinux', '/k/initrd',
        'console=ttyS0', '[{"path":"/pool/a.raw","read_only":true},{"path":"/pool/b.raw"}]',
        '[{"network":"default","mac":"52:54:00:aa:bb:cc"}]', 'running', 'crashed',
        1700000000000, 1700000001000, 3);
INSERT INTO vms (id, name, vcpus, memory_mib, kernel, created_at, updated_at)
VALUES ('22222222-2222-4222-8222-222222222222', 'bare', 1, 64, '/k/probe', 1700000002000,
        1700000002000);
INSERT INTO tokens (id, name, role, secret_sha256, created_at, expires_at, revoked)
VALUES ('33333333-3333-4333-8333-333333333333', 'admin', 'admin', printf('%.64c', 'c'),
        1700000000000, 0, 0);
INSERT INTO audit_log (at, actor, action, target, result, request_id)
VALUES (1700000000000, 'admin', 'vm.create', 'old-web', 'ok', 'r1');
INSERT INTO operations (id, kind, target, state, progress, error, created_at, updated_at)
VALUES ('44444444-4444-4444-8444-444444444444', 'vm.start', 'old-web', 'failed', 30, 'boom',
        1700000000000, 1700000000500);
)sql");
}

TEST(StoreOpenTest, UpgradesAV1FileToTheLatestSchema) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  write_v1_file(path);
  auto store = open_store(path, "host-a");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), latest_schema_version());

  auto web = store->get_vm("11111111-1111-4111-8111-111111111111");
  ASSERT_TRUE(web.ok()) << web.error().message;
  EXPECT_EQ(web->host, "host-a");  // the file's VMs belong to the host that owns it
  EXPECT_EQ(web->spec.name, "old-web");
  EXPECT_EQ(web->spec.vcpus, 2u);
  EXPECT_EQ(web->spec.memory_mib, 512u);
  EXPECT_EQ(web->spec.boot.initrd, "/k/initrd");
  EXPECT_EQ(web->spec.boot.cmdline, "console=ttyS0");
  ASSERT_EQ(web->spec.disks.size(), 2u);
  EXPECT_EQ(web->spec.disks[0].path, "/pool/a.raw");
  EXPECT_TRUE(web->spec.disks[0].read_only);
  EXPECT_FALSE(web->spec.disks[1].read_only);
  ASSERT_EQ(web->spec.nics.size(), 1u);
  EXPECT_EQ(web->spec.nics[0].mac, "52:54:00:aa:bb:cc");
  EXPECT_EQ(web->desired, VmState::running);
  EXPECT_EQ(web->actual, VmState::crashed);
  EXPECT_EQ(web->created_at, 1700000000000);
  EXPECT_EQ(web->generation, 3u);
  // Columns that v1 did not have take their defaults.
  EXPECT_EQ(web->spec.cpu.mode, CpuMode::timeshare);
  EXPECT_EQ(web->spec.cpu.weight, 100u);
  EXPECT_EQ(web->spec.cpu.cap_percent, 0u);
  EXPECT_EQ(web->spec.memory.mode, MemoryMode::shared);
  EXPECT_EQ(web->spec.restart, RestartPolicy::never);

  auto bare = store->get_vm_by_name("bare");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->spec.disks.empty());
  EXPECT_EQ(bare->spec.boot.initrd, "");

  auto token = store->find_token_by_hash(std::string(64, 'c'));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->role, Role::admin);
  EXPECT_EQ(store->list_audit(0, 10)->size(), 1u);
  EXPECT_EQ(store->get_operation("44444444-4444-4444-8444-444444444444")->error, "boom");

  // The upgraded file behaves like a new one: names unique, children cascade, file sound.
  EXPECT_EQ(store->create_vm(test::sample_spec("bare")).error().code, StoreErrc::conflict);
  ASSERT_TRUE(store->delete_vm(web->id).ok());
  EXPECT_EQ(*store->integrity_check(), "ok");
  store.reset();
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT count(*) FROM vm_disks"), "0");
  EXPECT_EQ(raw.rows("PRAGMA foreign_key_check"), 0);
}

// A migration runs in one transaction: when it fails half-way the file stays at the old version
// with its rows, and the store says why.
TEST(StoreOpenTest, AFailedMigrationLeavesTheOldSchema) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  write_v1_file(path);
  {
    RawDb raw(path);  // v1 did not check states; v2 does
    raw.exec("UPDATE vms SET actual_state = 'exploded' WHERE name = 'bare'");
  }
  const StoreError e = open_error(path);
  EXPECT_EQ(e.code, StoreErrc::corrupt);
  EXPECT_NE(e.message.find("schema 2"), std::string::npos) << e.message;
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.text("SELECT count(*) FROM vms"), "2");
  EXPECT_NE(raw.text("SELECT disks FROM vms WHERE name = 'old-web'").find("/pool/a.raw"),
            std::string::npos);
  EXPECT_EQ(raw.rows("SELECT name FROM sqlite_schema WHERE name IN ('vms_v2', 'vm_disks')"), 0);
}

TEST(StoreOpenTest, RefusesANewerSchemaAndLeavesItAlone) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  ASSERT_NE(open_store(path), nullptr);
  {
    RawDb raw(path);
    raw.exec("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1));
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  const std::string before = read_file(path);
  const StoreError e = open_error(path);
  EXPECT_EQ(e.code, StoreErrc::corrupt);
  EXPECT_NE(e.message.find("newer"), std::string::npos) << e.message;
  EXPECT_EQ(read_file(path), before);
}

TEST(StoreOpenTest, RefusesAnotherApplicationsDatabase) {
  TempDir dir;
  const std::string path = dir.file("other.db");
  {
    RawDb raw(path);
    raw.exec("PRAGMA application_id = 1234; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  }
  const std::string before = read_file(path);
  const StoreError e = open_error(path);
  EXPECT_EQ(e.code, StoreErrc::corrupt);
  EXPECT_NE(e.message.find("another application"), std::string::npos) << e.message;
  EXPECT_EQ(read_file(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(StoreOpenTest, RefusesAPlainSqliteFileWithTables) {
  TempDir dir;
  const std::string path = dir.file("plain.db");
  { RawDb(path).exec("CREATE TABLE notes (body TEXT)"); }
  const std::string before = read_file(path);
  EXPECT_EQ(open_error(path).code, StoreErrc::corrupt);
  EXPECT_EQ(read_file(path), before);
}

TEST(StoreOpenTest, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  std::string junk;
  for (int i = 0; i < 200; ++i)
    junk += "this is a text file, not a database; line " + std::to_string(i) + "\n";
  std::ofstream(path, std::ios::binary) << junk;
  const StoreError e = open_error(path);
  EXPECT_EQ(e.code, StoreErrc::corrupt);
  EXPECT_NE(e.message.find("not a Flotilla state store"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
  EXPECT_EQ(read_file(path), junk);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(path + "-journal"));
}

TEST(StoreOpenTest, ReopeningTheLatestSchemaRunsNoMigration) {
  TempDir dir;
  const std::string path = dir.file("flotilla.db");
  ASSERT_NE(open_store(path), nullptr);
  auto again = open_store(path);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->schema_version(), latest_schema_version());
}

}  // namespace
}  // namespace flotilla::storage
