// BlkBackend: requests → BlockImage calls. BlkWorkerPool: named threads, bounded FIFO.
#include "vmm/devices/virtio/blk/backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/event/device_thread.h"

namespace flotilla::vmm::virtio {

BlkBackend::BlkBackend(std::string name, std::string serial,
                       std::unique_ptr<storage::BlockImage> image, BlockMetrics& metrics)
    : name_(std::move(name)),
      serial_(std::move(serial)),
      image_(std::move(image)),
      metrics_(metrics) {}

uint8_t BlkBackend::failed(const storage::ImageError& error) {
  BlockMetrics::add(metrics_.errors);
  metrics_.set_last_error(error.message);
  if (error.code == storage::ImageErrc::kNoSpace) {
    BlockMetrics::add(metrics_.no_space_errors);
    std::call_once(no_space_logged_, [&] {
      spdlog::error("{}: the host file system is full ({}); the guest gets I/O errors", name_,
                    error.message);
    });
  } else {
    std::lock_guard lock(warn_mutex_);
    if (warn_budget_ > 0) {
      --warn_budget_;
      spdlog::warn("{}: I/O error: {}", name_, error.message);
    }
  }
  return VIRTIO_BLK_S_IOERR;
}

storage::ImageResult<void> BlkBackend::read_into_guest(const BlkRequest& r) {
  // Straight into guest RAM. (Reads of 256 KiB-4 MiB used to bounce through a huge-page buffer
  // while guest RAM was a memfd on 4 KiB pages; GuestMemory now asks for THP: no copy.)
  return image_->readv(r.offset(), r.data);
}

uint8_t BlkBackend::finish_transfer(const BlkRequest& r, int err) {
  const bool write = r.type == VIRTIO_BLK_T_OUT;
  if (err != 0) {
    const bool no_space = err == ENOSPC || err == EDQUOT;
    return failed(
        storage::ImageError{no_space ? storage::ImageErrc::kNoSpace : storage::ImageErrc::kIo,
                            name_ + ": " + (write ? "write" : "read") + " at " +
                                std::to_string(r.offset()) + ": " + std::strerror(err),
                            err});
  }
  BlockMetrics::add(write ? metrics_.write_ops : metrics_.read_ops);
  BlockMetrics::add(write ? metrics_.write_bytes : metrics_.read_bytes, r.data_len);
  return VIRTIO_BLK_S_OK;
}

uint8_t BlkBackend::execute(const BlkRequest& r) {
  switch (r.type) {
    case VIRTIO_BLK_T_IN: {
      if (r.data_len > 0) {
        if (auto ok = read_into_guest(r); !ok) return failed(ok.error());
      }
      BlockMetrics::add(metrics_.read_ops);
      BlockMetrics::add(metrics_.read_bytes, r.data_len);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_OUT: {
      if (r.data_len > 0) {
        if (auto ok = image_->writev(r.offset(), r.data); !ok) return failed(ok.error());
      }
      BlockMetrics::add(metrics_.write_ops);
      BlockMetrics::add(metrics_.write_bytes, r.data_len);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_FLUSH: {
      if (auto ok = image_->flush(); !ok) return failed(ok.error());
      BlockMetrics::add(metrics_.flush_ops);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_GET_ID: {
      // The serial, zero-padded to 20 bytes (not NUL-terminated when it is exactly 20).
      char id[VIRTIO_BLK_ID_BYTES] = {};
      std::memcpy(id, serial_.data(), std::min<size_t>(serial_.size(), sizeof(id)));
      size_t done = 0;
      for (const iovec& v : r.data) {
        const size_t take = std::min<size_t>(v.iov_len, r.data_len - done);
        // SAFETY: v covers iov_len bytes of guest RAM; done + take <= data_len <= 20.
        std::memcpy(v.iov_base, id + done, take);
        done += take;
      }
      BlockMetrics::add(metrics_.get_id_ops);
      return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
      const bool discard = r.type == VIRTIO_BLK_T_DISCARD;
      for (const BlkRange& range : r.ranges) {
        if (range.length == 0) continue;
        auto ok = discard ? image_->discard(range.offset, range.length)
                          : image_->write_zeroes(range.offset, range.length, range.unmap);
        if (!ok) return failed(ok.error());
      }
      BlockMetrics::add(discard ? metrics_.discard_ops : metrics_.write_zeroes_ops);
      return VIRTIO_BLK_S_OK;
    }
    default:
      BlockMetrics::add(metrics_.errors);
      BlockMetrics::add(metrics_.unsupported);
      return VIRTIO_BLK_S_UNSUPP;
  }
}

Result<std::unique_ptr<BlkWorkerPool>, VirtioError> BlkWorkerPool::create(const std::string& prefix,
                                                                          unsigned min_threads,
                                                                          unsigned max_threads,
                                                                          size_t capacity) {
  if (min_threads == 0 || max_threads < min_threads || max_threads > 256 || capacity == 0) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-blk worker pool: 1 <= min <= max <= 256 threads and a "
                            "non-zero capacity"});
  }
  std::unique_ptr<BlkWorkerPool> pool(new BlkWorkerPool(prefix, max_threads, capacity));
  std::lock_guard lock(pool->mutex_);
  for (unsigned i = 0; i < min_threads; ++i) {
    if (!pool->spawn_locked()) {
      return fail(
          VirtioError{VirtioErrorCode::kSystem, "virtio-blk: cannot start a worker thread"});
    }
  }
  return pool;
}

BlkWorkerPool::~BlkWorkerPool() {
  stop();
}

bool BlkWorkerPool::spawn_locked() {
  std::string name = prefix_ + "w" + std::to_string(threads_.size());
  try {
    threads_.emplace_back([this, name] { run(name); });
  } catch (const std::system_error&) {
    return false;  // out of threads: the ones we have carry on
  }
  return true;
}

size_t BlkWorkerPool::thread_count() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

void BlkWorkerPool::run(std::string name) {
  enter_device_thread(name);
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) return;  // stopping
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    job();
    job = nullptr;  // release its captures outside the lock
    lock.lock();
    --running_;
    if (running_ == 0 && jobs_.empty()) idle_cv_.notify_all();
  }
}

bool BlkWorkerPool::submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= capacity_) return false;
    jobs_.push_back(std::move(job));
    // Every thread busy (or already claimed by an earlier job): one more, if allowed.
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) spawn_locked();
  }
  work_cv_.notify_one();
  return true;
}

size_t BlkWorkerPool::discard_queued() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(jobs_);
    if (running_ == 0) idle_cv_.notify_all();
  }
  return dropped.size();
}

void BlkWorkerPool::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [this] { return running_ == 0 && jobs_.empty(); });
}

void BlkWorkerPool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
    threads.swap(threads_);
  }
  work_cv_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace flotilla::vmm::virtio
