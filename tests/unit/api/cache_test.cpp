// The API's caches against a real state store: GET /v1/vms is served from a cached body while
// no VM was written, and is fresh after every write that has returned (through the API or
// straight through the store, as the daemon's supervisor writes states); bearer tokens are
// cached briefly, but a revoked token is refused at once and expiry is checked every request.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/api.h"
#include "storage/state_store.h"

namespace flotilla::api {
namespace {

using nlohmann::json;
using storage::Role;
using storage::VmState;

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flotilla-api-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = storage::StateStore::open({db_path(), 5000, "host-1"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    api_ = Api::create({store_.get(), [] { return HostInfo{"h", "id", 2, 1 << 30, 2, {}, nullptr}; },
                        [this] { return now_ms_.load(); }});
    admin_ = token(Role::admin);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string db_path() const { return dir_ + "/flotilla.db"; }

  std::string token(Role role, int64_t expires_at = 0) {
    const std::string secret = generate_token();
    auto rec = store_->create_token("t" + std::to_string(n_++), role, token_sha256_hex(secret),
                                    expires_at);
    EXPECT_TRUE(rec.ok());
    last_token_id_ = rec.ok() ? rec->id : "";
    return "Bearer " + secret;
  }
  ApiResponse call(std::string_view method, std::string_view target, std::string_view body = {},
                   std::string_view auth = {}) {
    return handle_for_test(*api_, method, target, body, "application/json",
                           auth.empty() ? std::string_view(admin_) : auth);
  }
  // GET /v1/vms as JSON items (fails the test on anything but 200).
  json list() {
    auto r = call("GET", "/v1/vms");
    EXPECT_EQ(r.status, 200) << r.text();
    auto j = json::parse(r.text(), nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("items")) << r.text();
    return j.is_object() && j.contains("items") ? j["items"] : json::array();
  }
  static const json* find(const json& items, const std::string& name) {
    for (const auto& vm : items) {
      if (vm["name"] == name) return &vm;
    }
    return nullptr;
  }
  std::string create(const std::string& name) {
    auto r = call("POST", "/v1/vms", R"({"name":")" + name + R"(","boot":{"kernel":"/k"}})");
    EXPECT_EQ(r.status, 201) << r.text();
    auto j = json::parse(r.text(), nullptr, false);
    return j.is_object() ? j.value("id", "") : "";
  }
  // Runs one statement on a second connection: a change the store's hook never sees.
  void out_of_band(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string dir_;
  std::unique_ptr<storage::StateStore> store_;
  std::unique_ptr<Api> api_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  int n_ = 0;
  std::string admin_;
  std::string last_token_id_;
};

TEST_F(CacheTest, ListIsFreshAfterEveryKindOfVmWrite) {
  EXPECT_TRUE(list().empty());  // primes the cache with an empty body
  const std::string a = create("a");
  const std::string b = create("b");
  auto items = list();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["name"], "a");
  EXPECT_EQ(items[1]["name"], "b");

  // PATCH through the API: spec and generation.
  ASSERT_EQ(call("PATCH", "/v1/vms/a", R"({"vcpus":3})").status, 200);
  items = list();
  ASSERT_NE(find(items, "a"), nullptr);
  EXPECT_EQ((*find(items, "a"))["vcpus"], 3);
  EXPECT_EQ((*find(items, "a"))["generation"], 2);

  // Renames change only the name column.
  ASSERT_EQ(call("PATCH", "/v1/vms/b", R"({"name":"b2"})").status, 200);
  items = list();
  EXPECT_EQ(find(items, "b"), nullptr);
  EXPECT_NE(find(items, "b2"), nullptr);

  // State moves straight through the store, as the daemon makes them (no API request).
  ASSERT_TRUE(store_->set_vm_state(a, VmState::starting).ok());
  EXPECT_EQ((*find(list(), "a"))["state"], "starting");
  ASSERT_TRUE(store_->set_vm_state(a, VmState::running).ok());
  EXPECT_EQ((*find(list(), "a"))["state"], "running");
  ASSERT_TRUE(store_->record_vm_state(a, VmState::crashed, "exit status 3").ok());
  items = list();
  EXPECT_EQ((*find(items, "a"))["state"], "crashed");
  EXPECT_EQ((*find(items, "a"))["state_reason"], "exit status 3");
  ASSERT_TRUE(store_->set_vm_desired_state(a, VmState::running).ok());
  EXPECT_EQ((*find(list(), "a"))["desired_state"], "running");

  // A VM the daemon creates itself, then deletes through the API.
  storage::VmSpec spec;
  spec.name = "c";
  spec.boot.kernel = "/k";
  auto c = store_->create_vm(spec);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_NE(find(list(), "c"), nullptr);
  ASSERT_EQ(call("DELETE", "/v1/vms/c").status, 204);
  EXPECT_EQ(find(list(), "c"), nullptr);
  ASSERT_TRUE(store_->delete_vm(a).ok());
  items = list();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["name"], "b2");
}

// Proof that an unchanged store is answered without reading rows: a change made behind the
// store's back (a second connection, which this daemon never does) is not seen until the next
// write through the store, which reads the rows again.
TEST_F(CacheTest, UnchangedStoreIsAnsweredFromTheCachedBody) {
  create("a");
  create("b");
  const std::string before = call("GET", "/v1/vms").text();
  out_of_band("UPDATE vms SET vcpus = 7, generation = generation + 1 WHERE name = 'a'");
  EXPECT_EQ(call("GET", "/v1/vms").text(), before);
  ASSERT_EQ(call("PATCH", "/v1/vms/b", R"({"vcpus":2})").status, 200);
  auto items = list();
  EXPECT_EQ((*find(items, "a"))["vcpus"], 7);
  EXPECT_EQ((*find(items, "b"))["vcpus"], 2);
}

// Writers and readers race: every list must hold every VM whose create had returned before the
// list request started, and none that was deleted before it started.
TEST_F(CacheTest, ListNeverMissesAWriteThatHadReturned) {
  constexpr int kVms = 40;
  std::atomic<int> created{0};
  std::atomic<bool> done{false};
  std::atomic<int> stale{0}, errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        const int returned = created.load();
        auto resp = call("GET", "/v1/vms");
        auto j = json::parse(resp.text(), nullptr, false);
        if (resp.status != 200 || !j.is_object()) {
          errors.fetch_add(1);
          continue;
        }
        // VM i is created, moved to starting by the "daemon", and only then counted.
        int seen_starting = 0;
        for (const auto& vm : j["items"]) seen_starting += vm["state"] == "starting" ? 1 : 0;
        if (seen_starting < returned) stale.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < kVms; ++i) {
    const std::string id = create("vm-" + std::to_string(i));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(store_->set_vm_state(id, VmState::starting).ok());
    created.store(i + 1);
  }
  done.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(list().size(), static_cast<size_t>(kVms));
}

TEST_F(CacheTest, RevokedTokenIsRefusedAtOnce) {
  const std::string viewer = token(Role::viewer);
  const std::string viewer_id = last_token_id_;
  ASSERT_EQ(call("GET", "/v1/vms", {}, viewer).status, 200);  // now cached
  ASSERT_TRUE(store_->revoke_token(viewer_id).ok());
  auto r = call("GET", "/v1/vms", {}, viewer);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.text().find("revoked"), std::string::npos) << r.text();

  // The same through DELETE /v1/tokens/{id}, with the token used just before.
  const std::string op = token(Role::operator_);
  const std::string op_id = last_token_id_;
  ASSERT_EQ(call("GET", "/v1/vms", {}, op).status, 200);
  ASSERT_EQ(call("DELETE", "/v1/tokens/" + op_id).status, 204);
  EXPECT_EQ(call("GET", "/v1/vms", {}, op).status, 401);
  EXPECT_EQ(call("POST", "/v1/vms", R"({"name":"x","boot":{"kernel":"/k"}})", op).status, 401);

  // Other tokens keep working.
  EXPECT_EQ(call("GET", "/v1/vms").status, 200);
}

TEST_F(CacheTest, ExpiryIsCheckedOnEveryRequest) {
  const std::string t = token(Role::viewer, now_ms_.load() + 1000);
  ASSERT_EQ(call("GET", "/v1/vms", {}, t).status, 200);
  ASSERT_EQ(call("GET", "/v1/vms", {}, t).status, 200);  // from the cache
  now_ms_ += 1000;
  auto r = call("GET", "/v1/vms", {}, t);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.text().find("expired"), std::string::npos) << r.text();
}

// A revocation behind the store's back is not seen by the counter; the cache's TTL bounds how
// long the token keeps working.
TEST_F(CacheTest, CachedTokenIsReloadedWithinItsTtl) {
  const std::string t = token(Role::viewer);
  ASSERT_EQ(call("GET", "/v1/vms", {}, t).status, 200);
  out_of_band("UPDATE tokens SET revoked = 1 WHERE id = '" + last_token_id_ + "'");
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(10);
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = call("GET", "/v1/vms", {}, t).status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 401);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace flotilla::api
