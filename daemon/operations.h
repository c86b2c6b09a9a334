// OperationRunner: runs asynchronous operations (start, snapshot, import, ...) one at a time on
// its own thread ("operations"), recording state and progress in the store. Lifecycle work
// arrives with later issues; they submit here and return the operation record (202).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "storage/state_store.h"

namespace flotilla::daemon {

class OperationRunner {
 public:
  using Progress = std::function<void(int percent)>;
  // Returns "" on success or the error text the operation fails with.
  using Work = std::function<std::string(const Progress&)>;

  explicit OperationRunner(storage::StateStore& store);
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
  std::thread thread_;
};

}  // namespace flotilla::daemon
