#include "storage/sqlite/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace flotilla::storage::sqlite {

StoreError make_error(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  StoreErrc code = StoreErrc::io;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) code = StoreErrc::corrupt;
  if (primary == SQLITE_CONSTRAINT) code = StoreErrc::conflict;
  std::string message(what);
  message += ": ";
  // The connection's message is only about this rc while the call that failed is the last one.
  const bool db_knows = db != nullptr && sqlite3_extended_errcode(db) == rc;
  message += db_knows ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return StoreError{code, std::move(message)};
}

// --- Query ---------------------------------------------------------------------------------

Query::Query(Query&& o) noexcept
    : db_(o.db_),
      stmt_(std::exchange(o.stmt_, nullptr)),
      bind_rc_(o.bind_rc_),
      last_rc_(o.last_rc_) {}

Query::~Query() {
  if (stmt_ == nullptr) return;
  // Ends the statement's implicit read (a pending SELECT would pin the WAL) and drops the
  // bound values; the prepared statement itself stays in the cache.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::bind_int(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Query& Query::bind_text(int index, std::string_view value) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

StoreResult<bool> Query::step() {
  if (bind_rc_ != SQLITE_OK) return fail(make_error(db_->raw(), bind_rc_, "binding a value"));
  last_rc_ = sqlite3_step(stmt_);
  if (last_rc_ == SQLITE_ROW) return true;
  if (last_rc_ == SQLITE_DONE) return false;
  return fail(make_error(db_->raw(), last_rc_, "running a statement"));
}

StoreResult<void> Query::run() {
  auto r = step();
  if (!r) return fail(r.error());
  return {};
}

bool Query::failed_on_unique() const {
  return last_rc_ == SQLITE_CONSTRAINT_UNIQUE || last_rc_ == SQLITE_CONSTRAINT_PRIMARYKEY;
}

int64_t Query::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string Query::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) return {};
  const int size = sqlite3_column_bytes(stmt_, index);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

// --- SqliteDb ------------------------------------------------------------------------------

void SqliteDb::StmtDeleter::operator()(sqlite3_stmt* s) const {
  sqlite3_finalize(s);
}

StoreResult<SqliteDb> SqliteDb::open_file(const std::string& path) {
  sqlite3* raw = nullptr;
  // NOMUTEX: the store's own mutex serialises every use of the connection.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteDb db(raw);  // owns the handle even when the open failed
  if (rc != SQLITE_OK) return fail(make_error(raw, rc, "opening " + path));
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

SqliteDb::SqliteDb(SqliteDb&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), cache_(std::move(o.cache_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& o) noexcept {
  if (this != &o) {
    close();
    db_ = std::exchange(o.db_, nullptr);
    cache_ = std::move(o.cache_);
  }
  return *this;
}

SqliteDb::~SqliteDb() {
  close();
}

void SqliteDb::close() {
  cache_.clear();  // statements first: a connection with live statements stays open
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

StoreResult<void> SqliteDb::exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(make_error(db_, rc, "executing SQL"));
  return {};
}

StoreResult<Query> SqliteDb::query(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return fail(make_error(db_, rc, "preparing a statement"));
    it = cache_.emplace(sql, StmtPtr(stmt)).first;
  }
  return Query(this, it->second.get());
}

StoreResult<int64_t> SqliteDb::pragma_int(const std::string& name) {
  auto q = query("PRAGMA " + name);
  if (!q) return fail(q.error());
  auto row = q->step();
  if (!row) return fail(row.error());
  if (!*row) return int64_t{0};
  return q->column_int(0);
}

void SqliteDb::set_busy_timeout(int ms) {
  sqlite3_busy_timeout(db_, ms);
}

int64_t SqliteDb::changes() const {
  return sqlite3_changes64(db_);
}

// --- Txn -----------------------------------------------------------------------------------

StoreResult<Txn> Txn::begin(SqliteDb& db, Mode mode) {
  auto q = db.query(mode == Mode::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!q) return fail(q.error());
  if (auto r = q->run(); !r) return fail(r.error());
  return Txn(&db);
}

Txn::Txn(Txn&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}

Txn::~Txn() {
  if (db_ == nullptr) return;
  // Nothing useful can be done if the rollback fails; SQLite rolls back on close anyway.
  if (auto q = db_->query("ROLLBACK")) (void)q->run();
}

StoreResult<void> Txn::commit() {
  auto q = db_->query("COMMIT");
  if (!q) return fail(q.error());
  if (auto r = q->run(); !r) return fail(r.error());
  db_ = nullptr;
  return {};
}

}  // namespace flotilla::storage::sqlite
