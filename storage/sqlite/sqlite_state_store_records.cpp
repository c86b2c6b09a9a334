// SqliteStateStore: API tokens, the audit log and operations.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/uuid.h"
#include "storage/sqlite/sqlite_state_store.h"

namespace flotilla::storage::sqlite {
namespace {

// 64 hex digits, folded to lower case; nullopt for anything else.
std::optional<std::string> normalise_sha256_hex(const std::string& hex) {
  if (hex.size() != 64) return std::nullopt;
  std::string out(hex);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return out;
}

constexpr const char* kTokenColumns =
    "SELECT id, name, role, created_at, expires_at, revoked FROM tokens ";

StoreResult<TokenRecord> read_token_row(const Query& q) {
  TokenRecord t;
  t.id = q.column_text(0);
  t.name = q.column_text(1);
  const auto role = role_from_string(q.column_text(2));
  if (!role) {
    return fail(StoreError{StoreErrc::corrupt, "token " + t.id + " has an unknown role '" +
                                                   q.column_text(2) + "' in the store"});
  }
  t.role = *role;
  t.created_at = q.column_int(3);
  t.expires_at = q.column_int(4);
  t.revoked = q.column_int(5) != 0;
  return t;
}

constexpr const char* kOperationColumns =
    "SELECT id, kind, target, state, progress, error, created_at, updated_at FROM operations ";

StoreResult<OperationRecord> read_operation_row(const Query& q) {
  OperationRecord op;
  op.id = q.column_text(0);
  op.kind = q.column_text(1);
  op.target = q.column_text(2);
  const auto state = operation_state_from_string(q.column_text(3));
  if (!state) {
    return fail(StoreError{StoreErrc::corrupt, "operation " + op.id + " has an unknown state '" +
                                                   q.column_text(3) + "' in the store"});
  }
  op.state = *state;
  op.progress = static_cast<int>(q.column_int(4));
  op.error = q.column_text(5);
  op.created_at = q.column_int(6);
  op.updated_at = q.column_int(7);
  return op;
}

// Steps q to the end, converting each row with read(q).
template <class T, class Read>
StoreResult<std::vector<T>> collect(Query& q, Read read) {
  std::vector<T> out;
  for (;;) {
    auto row = q.step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    auto item = read(q);
    if (!item) return fail(item.error());
    out.push_back(std::move(*item));
  }
}

StoreError invalid(std::string message) {
  return StoreError{StoreErrc::invalid_state, std::move(message)};
}

}  // namespace

// --- tokens --------------------------------------------------------------------------------

StoreResult<TokenRecord> SqliteStateStore::load_token(const char* where, const std::string& key) {
  auto q = db_.query(std::string(kTokenColumns) + where);
  if (!q) return fail(q.error());
  auto row = q->bind_text(1, key).step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError{StoreErrc::not_found, "no such token"});
  return read_token_row(*q);
}

StoreResult<TokenRecord> SqliteStateStore::create_token(const std::string& name, Role role,
                                                        const std::string& secret_sha256_hex,
                                                        int64_t expires_at) {
  const auto hash = normalise_sha256_hex(secret_sha256_hex);
  if (!hash) {
    // The caller hashes the secret itself; anything but a SHA-256 hex digest is a bug there.
    spdlog::critical("create_token: the secret hash is not 64 hex digits");
    std::abort();
  }
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  TokenRecord t{make_uuid(), name, role, now_ms(), expires_at, false};
  {
    auto q = db_.query(
        "INSERT INTO tokens (id, name, role, secret_sha256, created_at, expires_at, revoked) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)");
    if (!q) return fail(q.error());
    q->bind_text(1, t.id).bind_text(2, t.name).bind_text(3, to_string(role)).bind_text(4, *hash);
    if (auto r = q->bind_int(5, t.created_at).bind_int(6, t.expires_at).run(); !r) {
      if (!q->failed_on_unique()) return fail(r.error());
      return fail(StoreError{StoreErrc::conflict, "a token with this secret already exists"});
    }
  }
  if (auto r = txn->commit(); !r) return fail(r.error());
  return t;
}

StoreResult<std::vector<TokenRecord>> SqliteStateStore::list_tokens() {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kTokenColumns) + "ORDER BY created_at, rowid");
  if (!q) return fail(q.error());
  return collect<TokenRecord>(*q, read_token_row);
}

StoreResult<void> SqliteStateStore::revoke_token(const std::string& id) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  {
    auto q = db_.query("UPDATE tokens SET revoked = 1 WHERE id = ?1");
    if (!q) return fail(q.error());
    if (auto r = q->bind_text(1, id).run(); !r) return r;
  }
  if (db_.changes() == 0) {
    return fail(StoreError{StoreErrc::not_found, "no token with id " + id});
  }
  return txn->commit();
}

StoreResult<TokenRecord> SqliteStateStore::find_token_by_hash(
    const std::string& secret_sha256_hex) {
  const auto hash = normalise_sha256_hex(secret_sha256_hex);
  if (!hash) return fail(StoreError{StoreErrc::not_found, "no such token"});
  std::lock_guard lock(mu_);
  return load_token("WHERE secret_sha256 = ?1", *hash);
}

StoreResult<int64_t> SqliteStateStore::count_tokens() {
  std::lock_guard lock(mu_);
  auto q = db_.query("SELECT count(*) FROM tokens");
  if (!q) return fail(q.error());
  auto row = q->step();
  if (!row) return fail(row.error());
  return q->column_int(0);
}

// --- audit log -----------------------------------------------------------------------------

StoreResult<void> SqliteStateStore::append_audit(const AuditEntry& entry) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  {
    auto q = db_.query(
        "INSERT INTO audit_log (at, actor, action, target, result, request_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!q) return fail(q.error());
    q->bind_int(1, entry.at != 0 ? entry.at : now_ms()).bind_text(2, entry.actor);
    q->bind_text(3, entry.action).bind_text(4, entry.target).bind_text(5, entry.result);
    if (auto r = q->bind_text(6, entry.request_id).run(); !r) return r;
  }
  return txn->commit();
}

StoreResult<std::vector<AuditEntry>> SqliteStateStore::list_audit(int64_t after_id, int limit) {
  std::lock_guard lock(mu_);
  auto q = db_.query(
      "SELECT id, at, actor, action, target, result, request_id FROM audit_log "
      "WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!q) return fail(q.error());
  q->bind_int(1, after_id).bind_int(2, limit > 0 ? limit : -1);
  auto read = [](const Query& r) -> StoreResult<AuditEntry> {
    return AuditEntry{r.column_int(0),  r.column_int(1),  r.column_text(2), r.column_text(3),
                      r.column_text(4), r.column_text(5), r.column_text(6)};
  };
  return collect<AuditEntry>(*q, read);
}

// --- operations ----------------------------------------------------------------------------

StoreResult<OperationRecord> SqliteStateStore::load_operation(const std::string& id) {
  auto q = db_.query(std::string(kOperationColumns) + "WHERE id = ?1");
  if (!q) return fail(q.error());
  auto row = q->bind_text(1, id).step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError{StoreErrc::not_found, "no operation with id " + id});
  return read_operation_row(*q);
}

StoreResult<OperationRecord> SqliteStateStore::create_operation(const std::string& kind,
                                                                const std::string& target) {
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  OperationRecord op;
  op.id = make_uuid();
  op.kind = kind;
  op.target = target;
  op.created_at = op.updated_at = now_ms();
  {
    auto q = db_.query(
        "INSERT INTO operations (id, kind, target, state, progress, error, created_at, "
        "updated_at) VALUES (?1, ?2, ?3, 'pending', 0, '', ?4, ?4)");
    if (!q) return fail(q.error());
    q->bind_text(1, op.id).bind_text(2, kind).bind_text(3, target);
    if (auto r = q->bind_int(4, op.created_at).run(); !r) return fail(r.error());
  }
  if (auto r = txn->commit(); !r) return fail(r.error());
  return op;
}

StoreResult<OperationRecord> SqliteStateStore::get_operation(const std::string& id) {
  std::lock_guard lock(mu_);
  return load_operation(id);
}

StoreResult<std::vector<OperationRecord>> SqliteStateStore::list_operations(int limit) {
  std::lock_guard lock(mu_);
  auto q =
      db_.query(std::string(kOperationColumns) + "ORDER BY created_at DESC, rowid DESC LIMIT ?1");
  if (!q) return fail(q.error());
  q->bind_int(1, limit > 0 ? limit : -1);
  return collect<OperationRecord>(*q, read_operation_row);
}

StoreResult<OperationRecord> SqliteStateStore::update_operation(const std::string& id,
                                                                OperationState state, int progress,
                                                                const std::string& error) {
  if (progress < 0 || progress > 100) {
    return fail(invalid("operation progress " + std::to_string(progress) + " is not in 0..100"));
  }
  std::lock_guard lock(mu_);
  auto txn = Txn::begin(db_, Txn::Mode::write);
  if (!txn) return fail(txn.error());
  auto current = load_operation(id);
  if (!current) return current;
  if (is_terminal(current->state)) {
    return fail(invalid("operation " + id + " already " + std::string(to_string(current->state)) +
                        "; it cannot change"));
  }
  {
    auto q = db_.query(
        "UPDATE operations SET state = ?2, progress = ?3, error = ?4, updated_at = ?5 "
        "WHERE id = ?1");
    if (!q) return fail(q.error());
    q->bind_text(1, id).bind_text(2, to_string(state)).bind_int(3, progress);
    if (auto r = q->bind_text(4, error).bind_int(5, now_ms()).run(); !r) return fail(r.error());
  }
  auto updated = load_operation(id);
  if (!updated) return updated;
  if (auto r = txn->commit(); !r) return fail(r.error());
  return updated;
}

}  // namespace flotilla::storage::sqlite
