// OperationRunner: runs asynchronous operations (start, stop, snapshot, import, ...) on a small
// pool of threads ("operations-<n>"), recording state and progress in the store. Operations
// that touch the same resource serialise themselves (the supervisor holds a per-VM lock); the
// pool only keeps a 30-second graceful stop from holding up every other VM's start.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/state_store.h"

namespace flotilla::daemon {

class OperationRunner {
 public:
  using Progress = std::function<void(int percent)>;
  // Returns "" on success or the error text the operation fails with.
  using Work = std::function<std::string(const Progress&)>;

  explicit OperationRunner(storage::StateStore& store, int threads = 8);
  ~OperationRunner();  // stop()
  OperationRunner(const OperationRunner&) = delete;
  OperationRunner& operator=(const OperationRunner&) = delete;

  // Records a pending operation and queues `work`.
  storage::StoreResult<storage::OperationRecord> submit(const std::string& kind,
                                                        const std::string& target, Work work);
  // Cancels queued operations (state cancelled), lets the running one finish, joins.
  void stop();

 private:
  struct Job {
    std::string id;
    Work work;
  };
  void loop();
  void run_job(Job& job);

  storage::StateStore& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace flotilla::daemon
