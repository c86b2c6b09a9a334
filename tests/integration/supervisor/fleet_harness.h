// Helpers for the supervisor tests: a real flotillad that runs real flotilla-vmm monitors with
// the probe guest, and REST shorthands (create, act, wait for operations and states, console).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/vmm/vmm_harness.h"
#include "tests/support/daemon_fixture.h"

namespace flotilla::supervisor_test {

using namespace std::chrono_literals;
using flotilla::test::FlotilladProcess;
using flotilla::test::HttpResponse;
using flotilla::vmm::test::ControlClient;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

inline const std::string kProbe = FLOTILLA_PROBE_PATH;
inline const std::string kVmm = FLOTILLA_VMM_PATH;

inline std::unique_ptr<FlotilladProcess> start_daemon() {
  flotilla::test::DaemonOptions o;
  o.extra_args = {"--vmm-binary", kVmm};
  auto d = FlotilladProcess::start(o);
  if (!d) {
    ADD_FAILURE() << "flotillad did not start: " << d.error().message;
    return nullptr;
  }
  return std::move(*d);
}

class Fleet {
 public:
  explicit Fleet(FlotilladProcess& d) : d_(d) {}

  // Creates a probe-guest VM; `extra` fields are merged into the body.
  std::string create(const std::string& name, const json& extra = json::object()) {
    json body = {{"name", name}, {"memory_mib", 64}, {"boot", {{"kernel", kProbe}}}};
    body.merge_patch(extra);
    auto r = d_.client().post("/v1/vms", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }

  HttpResponse act(const std::string& vm, const std::string& action,
                   const std::string& query = "") {
    return d_.client().post("/v1/vms/" + vm + "/" + action + query, "", "");
  }

  // Waits for a terminal operation state; returns the operation.
  json wait_op(const std::string& op_id, std::chrono::milliseconds timeout = 30s) {
    const auto deadline = Clock::now() + timeout;
    json op;
    while (Clock::now() < deadline) {
      op = d_.client().get("/v1/operations/" + op_id).json();
      const std::string s = op.value("state", "");
      if (s == "succeeded" || s == "failed" || s == "cancelled") return op;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "operation " << op_id << " not finished: " << op.dump();
    return op;
  }

  // Runs an action that answers 202 and waits for its operation to succeed.
  json act_and_wait(const std::string& vm, const std::string& action,
                    std::chrono::milliseconds timeout = 30s) {
    auto r = act(vm, action);
    EXPECT_EQ(r.status, 202) << action << ": " << r.body;
    if (r.status != 202) return r.json();
    EXPECT_EQ(r.header("location"), "/v1/operations/" + r.json().value("id", ""));
    auto op = wait_op(r.json().value("id", ""), timeout);
    EXPECT_EQ(op.value("state", ""), "succeeded") << action << ": " << op.dump() << "\n"
                                                  << d_.stderr_log();
    return op;
  }

  json vm(const std::string& id) { return d_.client().get("/v1/vms/" + id).json(); }
  std::string state(const std::string& id) { return vm(id).value("state", "?"); }

  bool wait_state(const std::string& id, const std::string& want,
                  std::chrono::milliseconds timeout = 20s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (state(id) == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::string console_tail(const std::string& id, int bytes = 16384) {
    auto r = d_.client().get("/v1/vms/" + id + "/console?bytes=" + std::to_string(bytes));
    return r.status == 200 ? r.json().value("data", "") : "";
  }

  // Waits until the console output holds `needle` `times` times.
  bool wait_console(const std::string& id, const std::string& needle, int times = 1,
                    std::chrono::milliseconds timeout = 20s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const std::string t = console_tail(id, 65536);
      int n = 0;
      for (size_t at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
      if (n >= times) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::string control_socket(const std::string& id) {
    return d_.state_dir() + "/run/vm-" + id + ".sock";
  }

  // Types a probe shell command on the console (the monitor's console stream) and returns the
  // output up to the next prompt, or "" on timeout.
  std::string run_on_console(const std::string& id, const std::string& command) {
    auto c = ControlClient::connect(control_socket(id), 5s);
    if (!c) return "";
    auto hello = c->request({{"cmd", "console"}, {"write", true}}, 5s);
    if (!hello || !(*hello).value("ok", false)) return "";
    const std::string prompt = "probe> ";
    c->send_raw("\r");
    if (!c->read_until(prompt, 5s)) return "";
    c->send_raw(command + "\r");
    if (!c->read_until(command, 5s)) return "";  // the echo
    std::string out;
    if (!c->read_into(out, prompt, 15s)) return "";
    return out;
  }

  int64_t monitor_pid(const std::string& id) {
    auto r = d_.client().get("/v1/vms/" + id + "/stats");
    return r.status == 200 ? r.json()["monitor"].value("monitor_pid", int64_t{0}) : 0;
  }

 private:
  FlotilladProcess& d_;
};

// The value of `key=<n>` in probe output, or -1.
inline long long probe_field(const std::string& text, const std::string& key) {
  return flotilla::vmm::test::field(text, key);
}

// True for a live process (a zombie waiting for its reaper counts as gone).
inline bool process_exists(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (pid <= 0 || !in || !std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

}  // namespace flotilla::supervisor_test
