// Durability the SQLite way: a client creates VMs as fast as it can, flotillad is SIGKILLed
// at a random moment, and after a restart every VM whose create was acknowledged is there and
// the database passes PRAGMA integrity_check.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

std::string integrity_check(const std::string& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string e = db ? sqlite3_errmsg(db) : "open failed";
    sqlite3_close(db);
    return e;
  }
  std::string result;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
  } else {
    result = sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return result;
}

TEST(Durability, AcknowledgedCreatesSurviveSigkill) {
  auto d = FlotilladProcess::start(DaemonOptions{{}, {}, "warn", {}});
  ASSERT_TRUE(d.ok()) << d.error().message;
  auto& daemon = **d;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 2; ++round) {
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::set<std::string> acked;
    const auto client = daemon.client().with_timeout(std::chrono::milliseconds(3000));
    std::thread writer([&] {
      for (int i = 0; !stop; ++i) {
        const std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
        auto r = client.post("/v1/vms", R"({"name":")" + name + R"(","boot":{"kernel":"/k"}})");
        if (r.status == 201) {
          std::lock_guard lock(mu);
          acked.insert(name);
        }
      }
    });
    std::uniform_int_distribution<int> ms(300, 1500);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms(rng)));  // the random moment
    daemon.kill_hard();
    stop = true;
    writer.join();
    ASSERT_GT(acked.size(), 0u) << "no create was acknowledged before the kill";
    EXPECT_EQ(integrity_check(daemon.db_path()), "ok");
    ASSERT_TRUE(daemon.restart().ok());
    auto list = daemon.client().get("/v1/vms");
    ASSERT_EQ(list.status, 200);
    std::set<std::string> present;
    const auto listed = list.json();  // keep the document alive for the loop
    for (const auto& vm : listed["items"]) present.insert(vm["name"].get<std::string>());
    EXPECT_GE(present.size(), acked.size()) << list.body.substr(0, 500);
    for (const auto& name : acked) {
      EXPECT_TRUE(present.count(name)) << name << " was lost";
    }
  }
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace flotilla::test
