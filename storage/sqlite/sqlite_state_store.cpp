#include "storage/sqlite/sqlite_state_store.h"

#include <sqlite3.h>

#include <chrono>
#include <string_view>
#include <utility>

namespace flotilla::storage::sqlite {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

SqliteStateStore::SqliteStateStore(SqliteDb db, std::string host_id)
    : db_(std::move(db)), host_id_(std::move(host_id)) {
  // Every row change of every statement, whichever method ran it (including ones added later),
  // so no writer can forget to invalidate. Not called for the truncate optimisation (DELETE
  // without WHERE), which this store never uses.
  sqlite3_update_hook(
      db_.raw(),
      [](void* self, int op, const char* db, const char* table, sqlite3_int64 rowid) {
        on_row_change(self, op, db, table, rowid);
      },
      this);
}

SqliteStateStore::~SqliteStateStore() {
  sqlite3_update_hook(db_.raw(), nullptr, nullptr);
}

void SqliteStateStore::on_row_change(void* self, int /*op*/, const char* /*db*/, const char* table,
                                     int64_t /*rowid*/) {
  auto* store = static_cast<SqliteStateStore*>(self);
  const std::string_view t = table != nullptr ? table : "";
  if (t == "vms" || t == "vm_disks" || t == "vm_nics") {
    store->vm_changes_.fetch_add(1, std::memory_order_release);
  } else if (t == "tokens") {
    store->token_changes_.fetch_add(1, std::memory_order_release);
  }
}

uint64_t SqliteStateStore::vm_change_counter() const {
  return vm_changes_.load(std::memory_order_acquire);
}

uint64_t SqliteStateStore::token_change_counter() const {
  return token_changes_.load(std::memory_order_acquire);
}

int SqliteStateStore::schema_version() {
  std::lock_guard lock(mu_);
  auto v = db_.pragma_int("user_version");
  return v ? static_cast<int>(*v) : -1;
}

StoreResult<std::string> SqliteStateStore::integrity_check() {
  std::lock_guard lock(mu_);
  auto q = db_.query("PRAGMA integrity_check");
  if (!q) return fail(q.error());
  std::string report;
  for (;;) {
    auto row = q->step();
    if (!row) return fail(row.error());
    if (!*row) break;
    if (!report.empty()) report += '\n';
    report += q->column_text(0);
  }
  return report;
}

}  // namespace flotilla::storage::sqlite
