#include "storage/sqlite/sqlite_state_store.h"

#include <chrono>
#include <utility>

namespace flotilla::storage::sqlite {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

SqliteStateStore::SqliteStateStore(SqliteDb db, std::string host_id)
    : db_(std::move(db)), host_id_(std::move(host_id)) {}

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
