#include "daemon/operations.h"

#include <pthread.h>

#include <spdlog/spdlog.h>
#include <algorithm>

namespace flotilla::daemon {

using storage::OperationState;

OperationRunner::OperationRunner(storage::StateStore& store, int threads) : store_(store) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this, i] {
      const std::string name = "operations-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      loop();
    });
  }
}

OperationRunner::~OperationRunner() {
  stop();
}

storage::StoreResult<storage::OperationRecord> OperationRunner::submit(const std::string& kind,
                                                                       const std::string& target,
                                                                       Work work) {
  auto op = store_.create_operation(kind, target);
  if (!op) return op;
  std::lock_guard lock(mu_);
  if (stopping_) {
    (void)store_.update_operation(op->id, OperationState::cancelled, 0, "daemon stopping");
    return op;
  }
  queue_.push_back(Job{op->id, std::move(work)});
  cv_.notify_one();
  return op;
}

void OperationRunner::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    dropped.swap(queue_);
    cv_.notify_all();
  }
  for (auto& job : dropped) {
    (void)store_.update_operation(job.id, OperationState::cancelled, 0, "daemon stopping");
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void OperationRunner::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    run_job(job);
  }
}

void OperationRunner::run_job(Job& job) {
  int last = 0;
  (void)store_.update_operation(job.id, OperationState::running, 0, "");
  const Progress progress = [&](int percent) {
    last = std::clamp(percent, 0, 100);
    (void)store_.update_operation(job.id, OperationState::running, last, "");
  };
  std::string error;
  try {
    error = job.work(progress);
  } catch (const std::exception& e) {
    error = std::string("operation threw: ") + e.what();
  }
  auto r = error.empty() ? store_.update_operation(job.id, OperationState::succeeded, 100, "")
                         : store_.update_operation(job.id, OperationState::failed, last, error);
  if (!r) spdlog::error("operation {}: cannot record result: {}", job.id, r.error().message);
}

}  // namespace flotilla::daemon
