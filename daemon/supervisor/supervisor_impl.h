// Internal to daemon/: the Supervisor's state. See daemon/supervisor.h for the contract.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/unique_fd.h"
#include "daemon/supervisor.h"
#include "daemon/supervisor/monitor_process.h"

namespace flotilla::daemon::supervisor {

using Clock = std::chrono::steady_clock;

// One VM as the supervisor tracks it. Every field below `mu` is guarded by it.
struct Entry {
  explicit Entry(std::string id, MonitorPaths p) : vm_id(std::move(id)), paths(std::move(p)) {}
  const std::string vm_id;
  const MonitorPaths paths;
  std::mutex mu;
  std::condition_variable changed;  // the monitor ended, or became ready
  std::optional<MonitorIdentity> monitor;
  bool child = false;  // spawned by this flotillad (waitid gives its status)
  UniqueFd pidfd;
  uint64_t run = 0;            // bumped per spawn or attach: late callbacks of old runs are ignored
  uint64_t restart_epoch = 0;  // bumped by user actions: a pending automatic restart is dropped
  bool stop_requested = false;  // the user asked: the exit is a stop, not a crash
  int crash_streak = 0;
  Clock::time_point started{};
};

class SupervisorImpl final : public Supervisor {
 public:
  SupervisorImpl(storage::StateStore& store, OperationRunner& ops, SupervisorOptions options);
  ~SupervisorImpl() override;

  api::ApiResult<api::ActionOutcome> act(const storage::VmRecord& vm, api::VmAction action,
                                         const api::ActionOptions& options) override;
  api::ApiResult<std::string> console_tail(const storage::VmRecord& vm, size_t bytes) override;
  api::ApiResult<nlohmann::json> stats(const storage::VmRecord& vm) override;
  api::ApiResult<std::string> control_socket(const storage::VmRecord& vm) override;
  api::ApiResult<void> apply_nic_limits(const storage::VmRecord& vm, size_t index,
                                        const storage::NicLimits& limits) override;
  api::ApiResult<void> check_policy(const storage::VmSpec& spec,
                                    const storage::VmRecord* current) override;
  api::ApiResult<void> apply_policy(const storage::VmRecord& vm) override;
  std::string metrics_text() override;
  void recover() override;
  void stop() override;
  size_t watched_monitors() override;

 private:
  using Outcome = api::ApiResult<api::ActionOutcome>;
  using EntryPtr = std::shared_ptr<Entry>;

  EntryPtr entry(const std::string& vm_id);
  // Everything below that takes `Entry&` expects e.mu held.
  api::ApiResult<storage::VmRecord> current(Entry& e);
  Result<void, SimpleError> launch(const EntryPtr& e, const storage::VmRecord& vm);
  void attach(const EntryPtr& e, MonitorIdentity id, UniqueFd pidfd, bool child);
  void watch(const EntryPtr& e, uint64_t run);
  void on_exit(const EntryPtr& e, uint64_t run);
  void settle(Entry& e, storage::VmState final_state, const std::string& reason);
  void schedule_restart(const EntryPtr& e, const storage::VmRecord& vm);
  void restart_now(const EntryPtr& e, uint64_t epoch);
  std::string crash_reason(const Entry& e, const MonitorExit& x) const;
  bool wants_restart(const storage::VmRecord& vm, bool clean) const;

  // Operation bodies (no lock held on entry).
  std::string wait_ready(const EntryPtr& e, uint64_t run, const OperationRunner::Progress& p);
  bool wait_exit(const EntryPtr& e, uint64_t run, std::chrono::milliseconds timeout);
  std::string kill_and_wait(const EntryPtr& e, uint64_t run);
  std::string graceful_stop(const EntryPtr& e, uint64_t run, int timeout_s,
                            const OperationRunner::Progress& p);
  std::string reboot_and_wait(const EntryPtr& e, uint64_t run, const OperationRunner::Progress& p);

  Outcome start(const EntryPtr& e);
  Outcome stop_vm(const EntryPtr& e, int timeout_s);
  Outcome force_stop(const EntryPtr& e);
  Outcome pause_or_resume(const EntryPtr& e, bool pause);
  Outcome reboot(const EntryPtr& e);
  Outcome submitted(const char* kind, const storage::VmRecord& vm, OperationRunner::Work work);
  api::ApiResult<void> check_definition(const storage::VmRecord& vm) const;
  // The VM's disks as the monitor opens them: pool disks from their records, path-only disks
  // with their format sniffed. 422 naming disks[i] for a disk that is gone or unreadable.
  api::ApiResult<std::vector<MonitorDisk>> monitor_disks(const storage::VmRecord& vm) const;
  // 422 for NICs no network can carry (no network manager, too many, a network gone).
  api::ApiResult<void> check_nics(const storage::VmRecord& vm) const;
  // The VM's disks, and its NICs plugged into their bridges (TAPs made: unplug() on failure).
  Result<MonitorDevices, SimpleError> plug_devices(const storage::VmRecord& vm);
  void unplug(const std::string& vm_id);
  // The VM's host cores and memory go back to the scheduler (its cgroup is removed).
  void release_resources(const std::string& vm_id);

  storage::StateStore& store_;
  OperationRunner& ops_;
  const SupervisorOptions opt_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::mutex map_mu_;
  std::unordered_map<std::string, EntryPtr> entries_;  // GUARDED_BY(map_mu_)
};

}  // namespace flotilla::daemon::supervisor
