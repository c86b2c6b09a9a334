// BlkBackend: requests → BlockImage calls. BlkWorkerPool: named threads, bounded FIFO.
#include "vmm/devices/virtio/blk/backend.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

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

uint8_t BlkBackend::execute(const BlkRequest& r) {
  switch (r.type) {
    case VIRTIO_BLK_T_IN: {
      if (r.data_len > 0) {
        if (auto ok = image_->readv(r.offset(), r.data); !ok) return failed(ok.error());
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
                                                                          unsigned threads,
                                                                          size_t capacity) {
  if (threads == 0 || threads > 64 || capacity == 0) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-blk worker pool: 1..64 threads and a non-zero capacity"});
  }
  std::unique_ptr<BlkWorkerPool> pool(new BlkWorkerPool(capacity));
  for (unsigned i = 0; i < threads; ++i) {
    std::string name = prefix + "w" + std::to_string(i);
    try {
      pool->threads_.emplace_back([p = pool.get(), name] { p->run(name); });
    } catch (const std::system_error& e) {
      pool->stop();
      return fail(VirtioError{VirtioErrorCode::kSystem,
                              std::string("virtio-blk worker thread: ") + e.what()});
    }
  }
  return pool;
}

BlkWorkerPool::~BlkWorkerPool() {
  stop();
}

void BlkWorkerPool::run(std::string name) {
  name.resize(std::min<size_t>(name.size(), 15));  // the kernel's limit
  pthread_setname_np(pthread_self(), name.c_str());
  std::unique_lock lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
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
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    jobs_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace flotilla::vmm::virtio
