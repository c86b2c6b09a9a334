// A small RAII layer over the SQLite C API: SqliteDb owns a connection (sqlite3*) and its cache of
// prepared statements; Query is one use of a cached statement (reset when it goes out of scope, so
// no statement keeps a read transaction open); Txn is a transaction that rolls back unless
// committed. Not thread-safe: the owner (SqliteStateStore) serialises calls with its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "storage/state_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flotilla::storage::sqlite {

// Maps a SQLite result code to the store's error: corrupt/notadb → corrupt, constraint →
// conflict, everything else (busy, full, I/O, permissions) → io. `what` names the action.
StoreError make_error(sqlite3* db, int rc, std::string_view what);

class SqliteDb;

class Query {
 public:
  Query(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query(Query&& o) noexcept;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Parameters are 1-based, as in SQL's ?1, ?2. A failed bind is reported by the next step().
  Query& bind_int(int index, int64_t value);
  Query& bind_text(int index, std::string_view value);

  // true: a row is ready to read; false: the statement is done.
  StoreResult<bool> step();
  // Runs a statement that returns no rows (INSERT, UPDATE, DELETE, DDL).
  StoreResult<void> run();

  int64_t column_int(int index) const;
  std::string column_text(int index) const;
  // After a failed step()/run(): was it a UNIQUE (or PRIMARY KEY) constraint?
  bool failed_on_unique() const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = 0;
  int last_rc_ = 0;
};

class SqliteDb {
 public:
  // Opens (creating) the file with extended result codes on. Reads nothing yet.
  static StoreResult<SqliteDb> open_file(const std::string& path);

  SqliteDb(SqliteDb&& o) noexcept;
  SqliteDb& operator=(SqliteDb&& o) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more statements that return no rows (migrations, pragmas).
  StoreResult<void> exec(const std::string& sql);
  // A statement from the cache (prepared on first use).
  StoreResult<Query> query(const std::string& sql);
  // The single integer a `PRAGMA name` read returns.
  StoreResult<int64_t> pragma_int(const std::string& name);
  void set_busy_timeout(int ms);
  int64_t changes() const;
  sqlite3* raw() const { return db_; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  void close();

  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const;
  };
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, StmtPtr> cache_;
};

// BEGIN IMMEDIATE (takes the write lock up front, so a writer never fails half-way with BUSY) or
// BEGIN DEFERRED (a consistent snapshot for reads spanning several statements). Rolls back in
// the destructor unless commit() succeeded.
class Txn {
 public:
  enum class Mode { read, write };
  static StoreResult<Txn> begin(SqliteDb& db, Mode mode);

  Txn(Txn&& o) noexcept;
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  StoreResult<void> commit();

 private:
  explicit Txn(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace flotilla::storage::sqlite
