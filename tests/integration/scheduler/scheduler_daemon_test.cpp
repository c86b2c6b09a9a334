// Issue 7 through a real flotillad: CPU and memory policies on probe guests, checked against the
// kernel's own view — the cgroup files (cpu.shares, cfs quota, cpuset.cpus, cpuacct usage),
// each thread's Cpus_allowed_list and the monitor's VmLck — never against what the daemon says
// it did. Each daemon has its own cgroup folder (the fixture's --cgroup-root) so parallel tests
// never touch each other's groups.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "tests/integration/supervisor/fleet_harness.h"

namespace flotilla::supervisor_test {
namespace {

namespace fs = std::filesystem;

// 600 MiB for VMs in all (no host share taken off), overcommit 1.5: small enough to run out
// of with 64 MiB probe guests, whatever the machine has.
constexpr const char* kConfig = R"({"scheduler":{"memory_limit_mib":600}})";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool wait_for(const std::function<bool()>& ok, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (ok()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return ok();
}

// comm → Cpus_allowed_list of every thread of `pid`.
std::map<std::string, std::string> thread_cpus(int64_t pid) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string comm = slurp(t.path() / "comm");
    std::ifstream in(t.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Cpus_allowed_list:", 0) == 0) {
        out[comm] = line.substr(line.find_first_not_of(" \t", 18));
      }
    }
  }
  return out;
}

uint64_t status_kib(int64_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  }
  return 0;
}

class SchedulerDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(::sysconf(_SC_NPROCESSORS_ONLN), 2) << "partition tests need two host cores";
    flotilla::test::DaemonOptions o;
    o.extra_args = {"--vmm-binary", kVmm};
    o.config_json = kConfig;
    auto d = FlotilladProcess::start(o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(*d);
    fleet_ = std::make_unique<Fleet>(*daemon_);
  }

  // The VM's folder in a cgroup v1 hierarchy ("cpu", "cpuacct", "cpuset") or v2 ("unified").
  std::string cgroup(const std::string& hierarchy, const std::string& vm) const {
    return "/sys/fs/cgroup/" + hierarchy + "/" + daemon_->cgroup_root() + "/vm-" + vm;
  }
  bool v1() const { return fs::is_directory("/sys/fs/cgroup/cpu/" + daemon_->cgroup_root()); }
  std::string shares(const std::string& vm) const {
    return slurp(cgroup("cpu", vm) + "/cpu.shares");
  }
  std::string quota(const std::string& vm) const {
    return slurp(cgroup("cpu", vm) + "/cpu.cfs_quota_us");
  }
  // CPU time of everything in the VM's group, from the kernel (v1 cpuacct or v2 cpu.stat).
  uint64_t usage_ns(const std::string& vm) const {
    if (v1()) return std::stoull("0" + slurp(cgroup("cpuacct", vm) + "/cpuacct.usage"));
    std::ifstream in(cgroup("unified", vm) + "/cpu.stat");
    std::string k;
    uint64_t v = 0;
    while (in >> k >> v) {
      if (k == "usage_usec") return v * 1000;
    }
    return 0;
  }

  std::string create(const std::string& name, const json& extra) {
    return fleet_->create(name, extra);
  }
  std::string start_running(const std::string& name, const json& extra) {
    const std::string id = create(name, extra);
    fleet_->act_and_wait(id, "start");
    EXPECT_TRUE(fleet_->wait_console(id, "probe> ")) << fleet_->console_tail(id);
    return id;
  }
  HttpResponse patch(const std::string& vm, const json& body) {
    return daemon_->client().patch("/v1/vms/" + vm, body.dump());
  }
  json host() { return daemon_->client().get("/v1/host").json()["scheduler"]; }

  // Types `burn SECONDS` on the guest's console and returns at once; the loop runs in ring 3.
  std::optional<ControlClient> burn(const std::string& vm, int seconds) {
    auto c = ControlClient::connect(fleet_->control_socket(vm), 5s);
    if (!c) return std::nullopt;
    auto hello = c->request({{"cmd", "console"}, {"write", true}}, 5s);
    if (!hello || !hello->value("ok", false)) return std::nullopt;
    c->send_raw("burn " + std::to_string(seconds) + "\r");
    if (!c->read_until("burn " + std::to_string(seconds), 5s)) return std::nullopt;
    return c;
  }
  // Share of one core the VM's group used over `window`, by the kernel's count.
  double cpu_share(const std::string& vm, std::chrono::milliseconds window) {
    const uint64_t a = usage_ns(vm);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(window);
    const uint64_t b = usage_ns(vm);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    return static_cast<double>(b - a) / ns;
  }

  std::unique_ptr<FlotilladProcess> daemon_;
  std::unique_ptr<Fleet> fleet_;
};

TEST_F(SchedulerDaemon, BadPoliciesAre422AndChangeNothing) {
  const json kernel = {{"kernel", kProbe}};
  const std::vector<std::pair<json, std::string>> bad = {
      {{{"cpu", {{"weight", -1}}}}, "cpu.weight"},
      {{{"cpu", {{"weight", 0}}}}, "cpu.weight"},
      {{{"cpu", {{"cap_percent", 0}}}}, "cpu.cap_percent"},
      {{{"vcpus", 2}, {"cpu", {{"cap_percent", 201}}}}, "cpu.cap_percent"},
      {{{"cpu", {{"mode", "partition"}}}}, "cpu.dedicated_cores"},
      // The host's cores minus the one always shared is the most a VM can have.
      {{{"cpu", {{"mode", "partition"}, {"dedicated_cores", ::sysconf(_SC_NPROCESSORS_ONLN)}}}},
       "cpu.dedicated_cores"},
      {{{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1000}}}}, "cpu.dedicated_cores"},
  };
  for (const auto& [extra, field] : bad) {
    json body = {{"name", "bad"}, {"memory_mib", 64}, {"boot", kernel}};
    body.merge_patch(extra);
    auto r = daemon_->client().post("/v1/vms", body.dump());
    EXPECT_EQ(r.status, 422) << extra.dump() << ": " << r.body;
    EXPECT_EQ(r.json()["error"].value("field", ""), field) << r.body;
  }
  EXPECT_TRUE(daemon_->client().get("/v1/vms").json()["items"].empty());
  // The same through PATCH, on a stopped and on a running VM: the definition stays as it was.
  const std::string id = start_running("vm-a", {{"cpu", {{"weight", 200}}}});
  for (const auto& [extra, field] : bad) {
    auto r = patch(id, extra);
    EXPECT_EQ(r.status, 422) << extra.dump() << ": " << r.body;
  }
  const json now = fleet_->vm(id);
  EXPECT_EQ(now["cpu"]["weight"], 200);
  EXPECT_EQ(now["cpu"]["mode"], "timeshare");
  EXPECT_EQ(now["generation"], 1);
  EXPECT_EQ(shares(id), "2048");
  // Anything but the CPU policy still waits for a stop.
  EXPECT_EQ(patch(id, {{"memory_mib", 128}}).status, 409);
}

TEST_F(SchedulerDaemon, AdmissionRefusesWhatTheHostCannotGive) {
  const std::string p1 =
      start_running("part-1", {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}});
  const int64_t cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  auto refused = [&](const std::string& vm, const std::string& field, const std::string& words) {
    auto r = fleet_->act(vm, "start");
    EXPECT_EQ(r.status, 409) << r.body;
    const json e = r.json()["error"];
    EXPECT_EQ(e.value("code", ""), "insufficient_resources") << r.body;
    EXPECT_EQ(e.value("field", ""), field) << r.body;
    const std::string m = e.value("message", "");
    EXPECT_NE(m.find(words), std::string::npos) << m;
    EXPECT_NE(m.find("needs"), std::string::npos) << m;
    EXPECT_NE(m.find("left"), std::string::npos) << m;
    EXPECT_EQ(fleet_->state(vm), "stopped");
  };
  // Cores: on two cores, one is always shared and part-1 holds the other.
  std::vector<std::string> partitions;
  for (int64_t i = 1; i < cores - 1; ++i) {
    partitions.push_back(start_running("part-x" + std::to_string(i),
                                       {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}}));
  }
  const std::string p2 =
      create("part-2", {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}});
  refused(p2, "cpu.dedicated_cores", "cores");
  // vCPUs: a timeshare VM runs on the shared cores only, and one is left.
  const std::string wide = create("wide", {{"vcpus", 2}});
  refused(wide, "vcpus", "vCPU");
  // Reserved memory: 600 MiB in all; part-1 holds 64 + 32 of it.
  const std::string big = create("big", {{"memory_mib", 700}, {"memory", {{"mode", "reserved"}}}});
  refused(big, "memory_mib", "memory.reserved");
  // Shared memory: 1.5 x (600 - reserved 0) = 900 MiB promised at most.
  const std::string s1 = start_running("shared-1", {{"memory_mib", 500}});
  const std::string s2 = create("shared-2", {{"memory_mib", 300}});
  refused(s2, "memory_mib", "memory.shared");

  const json inv = host();
  ASSERT_TRUE(inv.is_object()) << inv.dump();
  EXPECT_EQ(inv["cgroup_root"], daemon_->cgroup_root());
  EXPECT_EQ(inv["cores"][cores - 1]["use"], "dedicated");
  EXPECT_EQ(inv["cores"][0]["use"], "shared");
  EXPECT_EQ(inv["vms"].size(), 2u + partitions.size());
  EXPECT_EQ(inv["memory"]["total_bytes"], 600ull << 20);

  // What a stopped VM held is free again: part-2 gets the core part-1 gave back.
  fleet_->act_and_wait(p1, "force-stop");
  fleet_->act_and_wait(p2, "start");
  EXPECT_EQ(slurp(cgroup("cpuset", p2) + "/cpuset.cpus"), std::to_string(cores - 1));
  EXPECT_FALSE(fs::exists(cgroup("cpu", p1))) << "a stopped VM's cgroup goes";
}

TEST_F(SchedulerDaemon, PolicyReachesTheKernelAndChangesLive) {
  const std::string id = start_running("web", {{"cpu", {{"weight", 200}, {"cap_percent", 30}}}});
  ASSERT_TRUE(v1()) << "this machine has cgroup v1 cpu hierarchies";
  EXPECT_EQ(shares(id), "2048");
  EXPECT_EQ(slurp(cgroup("cpu", id) + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(quota(id), "30000");
  const int64_t pid = fleet_->monitor_pid(id);
  EXPECT_NE(slurp(cgroup("cpu", id) + "/cgroup.procs").find(std::to_string(pid)),
            std::string::npos);

  auto console = burn(id, 8);
  ASSERT_TRUE(console) << fleet_->console_tail(id);
  std::this_thread::sleep_for(300ms);
  const double capped = cpu_share(id, 1500ms);
  EXPECT_NEAR(capped, 0.30, 0.05) << "a 30 % cap";
  // Lifted live: the change is in the kernel within 2 s, and the guest runs free.
  const auto t0 = Clock::now();
  auto r = patch(id, {{"cpu", {{"cap_percent", nullptr}, {"weight", 400}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["cpu"]["cap_percent"].is_null()) << r.body;
  EXPECT_TRUE(wait_for([&] { return quota(id) == "-1" && shares(id) == "4096"; }, 2s));
  EXPECT_LT(Clock::now() - t0, 2s);
  const double free = cpu_share(id, 1500ms);
  EXPECT_GT(free, 0.6) << "uncapped, the burn loop takes most of a core";
  // Capped again live.
  ASSERT_EQ(patch(id, {{"cpu", {{"cap_percent", 20}}}}).status, 200);
  std::this_thread::sleep_for(300ms);
  EXPECT_NEAR(cpu_share(id, 1500ms), 0.20, 0.05);
  std::string out;
  EXPECT_TRUE(console->read_into(out, "probe> ", 20s)) << out;

  // Accounting: CPU time, wait and exits in the VM's stats and in /metrics.
  json acct;
  EXPECT_TRUE(wait_for(
      [&] {
        acct = daemon_->client().get("/v1/vms/" + id + "/stats").json()["monitor"]["scheduler"];
        return acct.is_object() && acct.contains("cpu_seconds");
      },
      8s))
      << acct.dump();
  EXPECT_GT(acct.value("cpu_seconds", 0.0), 1.0) << acct.dump();
  EXPECT_GT(acct.value("throttled_periods", 0), 0) << acct.dump();
  ASSERT_EQ(acct["vcpus"].size(), 1u) << acct.dump();
  EXPECT_TRUE(acct["vcpus"][0].contains("wait_seconds"));
  EXPECT_TRUE(acct.contains("exits_per_second"));
  const std::string metrics = daemon_->client().get("/metrics").body;
  EXPECT_NE(metrics.find("flotilla_vm_cpu_seconds_total{vm=\"web\",id=\"" + id + "\"}"),
            std::string::npos);
  EXPECT_NE(
      metrics.find("flotilla_vm_vcpu_wait_seconds_total{vm=\"web\",id=\"" + id + "\",vcpu=\"0\"}"),
      std::string::npos);
}

TEST_F(SchedulerDaemon, PartitionPinsItsVcpusAndTheRestMoveOff) {
  const int64_t cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string last = std::to_string(cores - 1);
  const std::string shared = cores == 2 ? "0" : "0-" + std::to_string(cores - 2);
  const std::string all = "0-" + last;
  const std::string ts = start_running("ts", {{"memory", {{"mode", "reserved"}}}});
  const int64_t ts_pid = fleet_->monitor_pid(ts);
  EXPECT_EQ(thread_cpus(ts_pid)["vcpu0"], all);
  // Reserved memory is prefaulted and locked.
  EXPECT_GE(status_kib(ts_pid, "VmLck"), 64u * 1024);

  const std::string p =
      start_running("part", {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}});
  const int64_t p_pid = fleet_->monitor_pid(p);
  EXPECT_EQ(slurp(cgroup("cpuset", p) + "/cpuset.cpus"), last);
  EXPECT_EQ(thread_cpus(p_pid)["vcpu0"], last);
  EXPECT_EQ(status_kib(p_pid, "VmLck"), 0u) << "shared memory is not locked";
  // Everything else is off the dedicated core: the timeshare VM and flotillad.
  for (const auto& [comm, cpus] : thread_cpus(ts_pid)) {
    if (comm.rfind("kvm-", 0) != 0) {
      EXPECT_EQ(cpus, shared) << comm;
    }
  }
  for (const auto& [comm, cpus] : thread_cpus(daemon_->pid())) EXPECT_EQ(cpus, shared) << comm;
  // Given back: the shared VM and the daemon spread over every core again.
  fleet_->act_and_wait(p, "force-stop");
  EXPECT_TRUE(wait_for([&] { return thread_cpus(ts_pid)["vcpu0"] == all; }, 2s))
      << thread_cpus(ts_pid)["vcpu0"];
  EXPECT_EQ(thread_cpus(daemon_->pid())["flotillad"], all);
}

TEST_F(SchedulerDaemon, DaemonRestartReappliesPoliciesAndKeepsCores) {
  const int64_t cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string p =
      start_running("part", {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}});
  const std::string ts = start_running("ts", {{"cpu", {{"weight", 300}}}});
  daemon_->kill_hard();
  // Drift while flotillad is down: the next one puts the policy back.
  std::ofstream(cgroup("cpu", ts) + "/cpu.shares") << "1024";
  ASSERT_EQ(shares(ts), "1024");
  ASSERT_TRUE(daemon_->restart().ok());
  EXPECT_TRUE(wait_for([&] { return shares(ts) == "3072"; }, 5s)) << shares(ts);
  EXPECT_EQ(fleet_->state(p), "running");
  const json inv = host();
  EXPECT_EQ(inv["cores"][cores - 1]["vm"], p) << inv.dump();
  EXPECT_EQ(thread_cpus(fleet_->monitor_pid(p))["vcpu0"], std::to_string(cores - 1));
  // The kept core is still held: another partition is refused.
  const std::string p2 =
      create("part-2", {{"cpu", {{"mode", "partition"}, {"dedicated_cores", 1}}}});
  EXPECT_EQ(fleet_->act(p2, "start").status, 409);
}

}  // namespace
}  // namespace flotilla::supervisor_test
