// Tokens, the audit log and operations against a real SQLite file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "common/uuid.h"
#include "storage/state_store.h"
#include "store_test_util.h"

namespace flotilla::storage {
namespace {

using test::open_store;
using test::TempDir;

// Two SHA-256 hex digests (their secrets do not matter to the store).
std::string hash_a() {
  return std::string(64, 'a');
}
std::string hash_b() {
  return std::string(63, '0') + "1";
}

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
  }

  TempDir dir_;
  std::string path_ = dir_.file("flotilla.db");
  std::unique_ptr<StateStore> store_;
};

TEST_F(RecordStoreTest, TokenCreateFindRevoke) {
  EXPECT_EQ(*store_->count_tokens(), 0);
  auto t = store_->create_token("ci", Role::operator_, hash_a(), 0);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(is_uuid(t->id));
  EXPECT_EQ(t->role, Role::operator_);
  EXPECT_FALSE(t->revoked);
  auto found = store_->find_token_by_hash(hash_a());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, t->id);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->role, Role::operator_);
  // The digest may arrive in upper case; it is the same token.
  std::string upper(64, 'A');
  EXPECT_EQ(store_->find_token_by_hash(upper)->id, t->id);
  EXPECT_EQ(store_->find_token_by_hash(hash_b()).error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->find_token_by_hash("not-hex").error().code, StoreErrc::not_found);

  ASSERT_TRUE(store_->revoke_token(t->id).ok());
  EXPECT_TRUE(store_->find_token_by_hash(hash_a())->revoked);  // still found: the caller decides
  EXPECT_EQ(store_->revoke_token(make_uuid()).error().code, StoreErrc::not_found);
  EXPECT_EQ(*store_->count_tokens(), 1);
}

TEST_F(RecordStoreTest, TokenListKeepsExpiryAndNoSecret) {
  ASSERT_TRUE(store_->create_token("admin", Role::admin, hash_a(), 0).ok());
  ASSERT_TRUE(store_->create_token("viewer", Role::viewer, hash_b(), 1'900'000'000'000).ok());
  auto list = store_->list_tokens();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "admin");
  EXPECT_EQ((*list)[1].expires_at, 1'900'000'000'000);
  EXPECT_EQ((*list)[1].role, Role::viewer);
}

TEST_F(RecordStoreTest, OnlyTheHashIsOnDiskAndItIsUnique) {
  auto dup_a = store_->create_token("a", Role::viewer, hash_a(), 0);
  ASSERT_TRUE(dup_a.ok());
  auto dup = store_->create_token("b", Role::admin, hash_a(), 0);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, StoreErrc::conflict);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT secret_sha256 FROM tokens", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), hash_a());
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(RecordStoreTest, AuditAppendsAndPages) {
  for (int i = 0; i < 5; ++i) {
    AuditEntry e;
    e.actor = "ci";
    e.action = "vm.create";
    e.target = "vm-" + std::to_string(i);
    e.result = i == 3 ? "conflict" : "ok";
    e.request_id = "req-" + std::to_string(i);
    ASSERT_TRUE(store_->append_audit(e).ok());
  }
  auto first = store_->list_audit(0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].target, "vm-0");
  EXPECT_GT((*first)[0].at, 1'600'000'000'000);
  auto rest = store_->list_audit((*first)[1].id, 0);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[1].result, "conflict");
  EXPECT_EQ((*rest)[2].request_id, "req-4");
}

TEST_F(RecordStoreTest, AuditLogIsAppendOnlyInTheFile) {
  ASSERT_TRUE(store_->append_audit({0, 0, "system", "start", "", "ok", ""}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_log SET result = 'forged'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit_log", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  store_ = open_store(path_);
  ASSERT_NE(store_, nullptr);
  auto list = store_->list_audit(0, 10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].result, "ok");
}

TEST_F(RecordStoreTest, OperationLifecycleAndProgressBounds) {
  auto op = store_->create_operation("vm.start", "some-vm");
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::pending);
  EXPECT_EQ(op->progress, 0);
  auto running = store_->update_operation(op->id, OperationState::running, 40, "");
  ASSERT_TRUE(running.ok()) << running.error().message;
  EXPECT_EQ(running->progress, 40);
  for (int bad : {-1, 101}) {
    auto r = store_->update_operation(op->id, OperationState::running, bad, "");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, StoreErrc::invalid_state);
  }
  auto failed = store_->update_operation(op->id, OperationState::failed, 40, "kernel not found");
  ASSERT_TRUE(failed.ok());
  auto read = store_->get_operation(op->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->state, OperationState::failed);
  EXPECT_EQ(read->error, "kernel not found");
  EXPECT_EQ(read->progress, 40);
  // A finished operation is final.
  auto again = store_->update_operation(op->id, OperationState::running, 50, "");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, StoreErrc::invalid_state);
  EXPECT_EQ(store_->get_operation(make_uuid()).error().code, StoreErrc::not_found);
}

TEST_F(RecordStoreTest, OperationsListNewestFirst) {
  std::vector<std::string> ids;
  ids.reserve(4);
  for (int i = 0; i < 4; ++i) ids.push_back(store_->create_operation("k", "t")->id);
  auto list = store_->list_operations(3);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, ids[3]);
  EXPECT_EQ((*list)[2].id, ids[1]);
  EXPECT_EQ(store_->list_operations(0)->size(), 4u);
}

}  // namespace
}  // namespace flotilla::storage
