// Qcow2Image: opening (header, tables, backing chain) and the request entry points.
#include "storage/image/qcow2/qcow2_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "storage/image/iov.h"
#include "storage/image/raw_image.h"

namespace flotilla::storage::qcow2 {
namespace {

constexpr size_t kDirectAlign = 4096;
constexpr uint64_t kL2CacheBytes = 32ull << 20;
constexpr uint64_t kRefCacheBytes = 4ull << 20;

ImageError wrap(const std::string& path, const ImageError& inner, const char* what) {
  return ImageError{inner.code, path + ": " + what + ": " + inner.message, inner.sys_errno};
}

}  // namespace

ImageError Qcow2Image::host_error(const char* what, int err) const {
  return sys_error(path_, what, err);
}

ImageError Qcow2Image::range_error(uint64_t offset, uint64_t length) const {
  return ImageError{ImageErrc::kOutOfRange,
                    path_ + ": request at " + std::to_string(offset) + " (+" +
                        std::to_string(length) + ") is past the disk's end (" +
                        std::to_string(header_.size) + " bytes)",
                    0};
}

ImageResult<std::unique_ptr<Qcow2Image>> Qcow2Image::open(const OpenOptions& options, int depth,
                                                          ChainSeen& seen) {
  std::unique_ptr<Qcow2Image> image(new Qcow2Image());
  image->path_ = options.path;
  image->read_only_ = options.read_only;
  const int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  image->fd_.reset(::open(options.path.c_str(), flags));
  if (!image->fd_) return fail(sys_error(options.path, "open", errno));
  struct stat st {};
  if (::fstat(image->fd_.get(), &st) != 0) return fail(sys_error(options.path, "fstat", errno));
  if (!S_ISREG(st.st_mode)) {
    return fail(ImageError{ImageErrc::kInvalidArgument,
                           options.path + ": a qcow2 image must be a regular file", 0});
  }
  for (const auto& [dev, ino] : seen) {
    if (dev == st.st_dev && ino == st.st_ino) {
      return fail(corrupt(options.path, "loop in the backing chain (the file is already in it)"));
    }
  }
  seen.emplace_back(st.st_dev, st.st_ino);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  auto header = read_header(image->fd_.get(), options.path, file_size);
  if (!header) return fail(header.error());
  image->header_ = std::move(header).value();
  const Header& h = image->header_;
  const uint64_t cs = h.cluster_size();
  image->host_end_ = (file_size + cs - 1) & ~(cs - 1);
  image->max_l2_tables_ = std::max<uint64_t>(16, kL2CacheBytes / cs);
  image->max_ref_blocks_ = std::max<uint64_t>(8, kRefCacheBytes / cs);
  if (!options.read_only) {
    if (auto r = image->prepare_for_writing(); !r) return fail(r.error());
  }
  if (auto r = image->load_tables(); !r) return fail(r.error());
  if (!options.read_only && (image->header_.incompatible & kIncompatDirty)) {
    std::lock_guard lock(image->mu_);
    if (auto r = image->repair_dirty_locked(); !r) return fail(r.error());
  }
  image->chain_.push_back(options.path);
  if (auto r = image->open_backing(options, depth, seen); !r) return fail(r.error());
  if (options.direct) {
    image->direct_fd_.reset(::open(options.path.c_str(), flags | O_DIRECT));
    // EINVAL: no O_DIRECT on this file system (tmpfs); buffered I/O it is.
  }
  if (!options.read_only && h.version == 3 && h.autoclear != 0) {
    // We keep no bitmaps: clearing the autoclear bits tells QEMU they are stale.
    uint8_t zero[8] = {};
    if (int err = pwrite_full(image->fd_.get(), zero, 8, kOffAutoclear); err != 0) {
      return fail(sys_error(options.path, "write header", err));
    }
    if (int err = datasync(image->fd_.get()); err != 0) {
      return fail(sys_error(options.path, "fdatasync", err));
    }
    image->header_.autoclear = 0;
  }
  return image;
}

ImageResult<void> Qcow2Image::prepare_for_writing() {
  const Header& h = header_;
  if (h.version != 3) {
    return fail(ImageError{ImageErrc::kUnsupported,
                           path_ + ": qcow2 version 2 images open read-only here "
                                   "(upgrade with `qemu-img amend -o compat=1.1`)",
                           0});
  }
  if (h.incompatible & kIncompatCorrupt) {
    return fail(corrupt(path_, "marked corrupt by QEMU; repair with `qemu-img check -r all`"));
  }
  if (h.nb_snapshots != 0) {
    return fail(ImageError{ImageErrc::kUnsupported,
                           path_ + ": images with internal snapshots open read-only here", 0});
  }
  return {};
}

ImageResult<void> Qcow2Image::load_tables() {
  const Header& h = header_;
  const uint64_t cs = h.cluster_size();
  const uint64_t file_end = host_end_;
  auto fixed_ok = [&](uint64_t off) { return off % cs == 0 && off >= cs && off <= file_end - cs; };
  std::vector<uint8_t> raw(uint64_t{h.l1_size} * 8);
  if (!raw.empty()) {
    if (int err = pread_full(fd_.get(), raw.data(), raw.size(), h.l1_table_offset); err != 0) {
      return fail(host_error("read L1 table", err));
    }
  }
  l1_.resize(h.l1_size);
  for (uint64_t i = 0; i < h.l1_size; ++i) {
    l1_[i] = load_be64(&raw[i * 8]);
    const uint64_t off = l1_[i] & kOffsetMask;
    if (off != 0 && !fixed_ok(off)) {
      return fail(corrupt(path_, "L1 entry " + std::to_string(i) + " points outside the file"));
    }
    if (off != 0 && overlaps_fixed_tables(off)) {
      return fail(
          corrupt(path_, "L1 entry " + std::to_string(i) + " points at the header or a table"));
    }
    if (off != 0) table_clusters_.insert(off);
  }
  const uint64_t rt_bytes = uint64_t{h.refcount_table_clusters} * cs;
  raw.assign(rt_bytes, 0);
  if (int err = pread_full(fd_.get(), raw.data(), rt_bytes, h.refcount_table_offset); err != 0) {
    return fail(host_error("read refcount table", err));
  }
  ref_table_.resize(rt_bytes / 8);
  for (uint64_t i = 0; i < ref_table_.size(); ++i) {
    ref_table_[i] = load_be64(&raw[i * 8]);
    const uint64_t off = ref_table_[i] & kRefTableOffsetMask;
    if (off != 0 && !fixed_ok(off)) {
      return fail(
          corrupt(path_, "refcount table entry " + std::to_string(i) + " points outside the file"));
    }
    if (off != 0 && overlaps_fixed_tables(off)) {
      return fail(corrupt(
          path_, "refcount table entry " + std::to_string(i) + " points at the header or a table"));
    }
    if (off != 0) table_clusters_.insert(off);
  }
  return {};
}

ImageResult<void> Qcow2Image::open_backing(const OpenOptions& options, int depth, ChainSeen& seen) {
  const std::string& name = header_.backing_file;
  if (name.empty()) return {};
  if (depth >= kMaxBackingDepth) {
    return fail(ImageError{
        ImageErrc::kUnsupported,
        path_ + ": backing chain deeper than " + std::to_string(kMaxBackingDepth) + " images", 0});
  }
  if (name.find(':') != std::string::npos && name.find('/') == std::string::npos) {
    return fail(ImageError{ImageErrc::kUnsupported,
                           path_ + ": backing file \"" + name + "\" is not a plain path", 0});
  }
  namespace fs = std::filesystem;
  backing_path_ =
      name[0] == '/' ? name : (fs::path(path_).parent_path() / name).lexically_normal().string();
  ImageFormat format = ImageFormat::kRaw;
  if (header_.backing_format.empty()) {
    auto detected = detect_image_format(backing_path_);
    if (!detected) return fail(wrap(path_, detected.error(), "backing file"));
    format = *detected;
  } else {
    auto parsed = parse_image_format(header_.backing_format);
    if (!parsed) {
      return fail(ImageError{ImageErrc::kUnsupported,
                             path_ + ": backing format \"" + header_.backing_format + "\"", 0});
    }
    format = *parsed;
  }
  OpenOptions bo{backing_path_, format, true, options.direct, {}};
  if (format == ImageFormat::kQcow2) {
    auto backing = Qcow2Image::open(bo, depth + 1, seen);
    if (!backing) return fail(wrap(path_, backing.error(), "backing file"));
    for (const std::string& p : (*backing)->chain()) chain_.push_back(p);
    backing_ = std::move(backing).value();
  } else {
    struct stat st {};
    if (::stat(backing_path_.c_str(), &st) == 0) {
      for (const auto& [dev, ino] : seen) {
        if (dev == st.st_dev && ino == st.st_ino) {
          return fail(corrupt(path_, "loop in the backing chain (" + backing_path_ + ")"));
        }
      }
    }
    auto backing = RawImage::open(bo);
    if (!backing) return fail(wrap(path_, backing.error(), "backing file"));
    chain_.push_back(backing_path_);
    backing_ = std::move(backing).value();
  }
  backing_size_ = backing_->size_bytes();
  return {};
}

Qcow2Image::~Qcow2Image() {
  if (read_only_ || !fd_) return;
  std::lock_guard lock(mu_);
  if (flush_metadata_locked()) (void)sync_locked("fdatasync");
}

ImageResult<void> Qcow2Image::readv(uint64_t offset, std::span<const iovec> iov) {
  const uint64_t length = iov_total(iov);
  if (offset > header_.size || length > header_.size - offset) {
    return fail(range_error(offset, length));
  }
  for (uint64_t done = 0; done < length;) {
    const uint64_t guest = offset + done;
    std::unique_lock lock(mu_);
    auto m = map_locked(guest, length - done);
    if (!m) return fail(m.error());
    std::vector<iovec> part = iov_slice(iov, done, m->length);
    if (m->kind == Kind::kCompressed) {
      auto r = read_compressed_locked(m->host, guest & (header_.cluster_size() - 1), part);
      if (!r) return r;
    } else {
      lock.unlock();
      if (m->kind == Kind::kData) {
        const bool direct =
            direct_fd_.valid() && m->host % kDirectAlign == 0 && iov_aligned(part, kDirectAlign);
        if (int err = transfer_full(direct ? direct_fd_.get() : fd_.get(), m->host, part, false);
            err != 0) {
          return fail(host_error("read", err));
        }
      } else if (auto r = read_unmapped(*m, guest, part); !r) {
        return r;
      }
    }
    done += m->length;
  }
  return {};
}

ImageResult<void> Qcow2Image::writev(uint64_t offset, std::span<const iovec> iov) {
  if (read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  const uint64_t length = iov_total(iov);
  if (offset > header_.size || length > header_.size - offset) {
    return fail(range_error(offset, length));
  }
  for (uint64_t done = 0; done < length;) {
    const uint64_t guest = offset + done;
    std::unique_lock lock(mu_);
    auto m = map_locked(guest, length - done);
    if (!m) return fail(m.error());
    if (m->kind == Kind::kData) {
      lock.unlock();
      std::vector<iovec> part = iov_slice(iov, done, m->length);
      const bool direct =
          direct_fd_.valid() && m->host % kDirectAlign == 0 && iov_aligned(part, kDirectAlign);
      if (int err = transfer_full(direct ? direct_fd_.get() : fd_.get(), m->host, part, true);
          err != 0) {
        return fail(host_error("write", err));
      }
      done += m->length;
      continue;
    }
    const uint64_t cb = header_.cluster_bits;
    const uint64_t span = std::min(m->length, length - done);
    if (in_flight_locked(guest >> cb, ((guest + span - 1) >> cb) - (guest >> cb) + 1)) {
      in_flight_cv_.wait(lock);  // another request is allocating these clusters: map again
      continue;
    }
    std::vector<iovec> rest = iov_slice(iov, done, length - done);
    auto written = write_allocating_locked(lock, guest, rest, *m);
    if (!written) return fail(written.error());
    done += *written;
  }
  return {};
}

ImageResult<bool> Qcow2Image::map_direct(uint64_t offset, uint64_t length, bool write,
                                         std::vector<HostSegment>& out) {
  if (write && read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  if (offset > header_.size || length > header_.size - offset) {
    return fail(range_error(offset, length));
  }
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;  // a flush or an allocation holds it: the slow path
  const size_t first = out.size();
  const int direct = direct_fd_.valid() ? direct_fd_.get() : -1;
  for (uint64_t done = 0; done < length;) {
    auto m = map_locked(offset + done, length - done);
    if (!m) {
      out.resize(first);
      return fail(m.error());
    }
    if (m->kind != Kind::kData) {
      out.resize(first);
      return false;
    }
    // map_locked already merged host-contiguous clusters into one mapping.
    out.push_back(HostSegment{fd_.get(), direct, m->host, m->length, done});
    done += m->length;
  }
  return true;
}

ImageResult<void> Qcow2Image::flush() {
  if (read_only_) return {};
  {
    // Metadata goes out in order under the lock (with its own syncs between the steps when
    // there was any); the final sync runs outside it so other requests keep moving.
    std::lock_guard lock(mu_);
    if (auto r = flush_metadata_locked(); !r) return r;
  }
  if (int err = datasync(fd_.get()); err != 0) return fail(host_error("fdatasync", err));
  return {};
}

ImageResult<void> Qcow2Image::discard(uint64_t offset, uint64_t length) {
  if (read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  if (offset > header_.size || length > header_.size - offset) {
    return fail(range_error(offset, length));
  }
  const uint64_t cs = header_.cluster_size();
  const uint64_t start = (offset + cs - 1) & ~(cs - 1);
  const uint64_t end_raw = offset + length;
  const uint64_t end =
      end_raw == header_.size ? (end_raw + cs - 1) & ~(cs - 1) : end_raw & ~(cs - 1);
  for (uint64_t g = start; g < end;) {
    std::unique_lock lock(mu_);
    auto m = map_locked(g, end - g);
    if (!m) return fail(m.error());
    if (m->kind == Kind::kZero || (m->kind == Kind::kUnallocated && !backing_)) {
      g += (m->length + cs - 1) & ~(cs - 1);
      continue;
    }
    if (in_flight_locked(g / cs, 1)) {
      in_flight_cv_.wait(lock);
      continue;
    }
    if (auto r = zero_cluster_locked(g, true); !r) return r;
    g += cs;
  }
  return {};
}

ImageResult<void> Qcow2Image::write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) {
  if (read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": the disk is read-only", EROFS});
  }
  if (offset > header_.size || length > header_.size - offset) {
    return fail(range_error(offset, length));
  }
  const uint64_t cs = header_.cluster_size();
  const uint64_t end = offset + length;
  static const std::vector<uint8_t> zeroes(1 << 20, 0);
  auto write_plain = [&](uint64_t from, uint64_t to) -> ImageResult<void> {
    for (uint64_t at = from; at < to;) {
      const uint64_t take = std::min<uint64_t>(zeroes.size(), to - at);
      iovec v{const_cast<uint8_t*>(zeroes.data()), take};
      if (auto r = writev(at, std::span<const iovec>(&v, 1)); !r) return r;
      at += take;
    }
    return {};
  };
  uint64_t full_start = (offset + cs - 1) & ~(cs - 1);
  uint64_t full_end = end == header_.size ? (end + cs - 1) & ~(cs - 1) : end & ~(cs - 1);
  if (full_start >= full_end) return write_plain(offset, end);
  if (auto r = write_plain(offset, full_start); !r) return r;
  for (uint64_t g = full_start; g < full_end;) {
    std::unique_lock lock(mu_);
    auto m = map_locked(g, full_end - g);
    if (!m) return fail(m.error());
    if (m->kind == Kind::kZero || (m->kind == Kind::kUnallocated && !backing_)) {
      g += (m->length + cs - 1) & ~(cs - 1);
      continue;
    }
    if (in_flight_locked(g / cs, 1)) {
      in_flight_cv_.wait(lock);
      continue;
    }
    if (auto r = zero_cluster_locked(g, may_unmap); !r) return r;
    g += cs;
  }
  return write_plain(std::min(full_end, end), end);
}

ImageResult<void> Qcow2Image::grow(uint64_t new_size) {
  if (read_only_) {
    return fail(ImageError{ImageErrc::kReadOnly, path_ + ": opened read-only", EROFS});
  }
  std::lock_guard lock(mu_);
  if (new_size < header_.size) {
    return fail(ImageError{ImageErrc::kInvalidArgument, path_ + ": cannot shrink", 0});
  }
  const uint64_t cs = header_.cluster_size();
  const uint64_t need = l1_entries_for(new_size, header_.cluster_bits);
  if (need > kMaxL1Bytes / 8) {
    return fail(ImageError{
        ImageErrc::kInvalidArgument,
        path_ + ": " + std::to_string(new_size) + " bytes is too large for this cluster size", 0});
  }
  uint8_t field[24] = {};
  if (need <= l1_.size()) {
    store_be64(field, new_size);
    if (int err = pwrite_full(fd_.get(), field, 8, kOffSize); err != 0) {
      return fail(host_error("write header", err));
    }
    header_.size = new_size;
    return sync_locked("fdatasync");
  }
  // A new, larger L1 at a fresh place; the header switches to it in one sector write.
  const uint64_t clusters = (need * 8 + cs - 1) / cs;
  auto host = alloc_clusters_locked(clusters);
  if (!host) return fail(host.error());
  if (auto r = flush_metadata_locked(); !r) return r;
  std::vector<uint8_t> table(clusters * cs, 0);
  for (uint64_t i = 0; i < l1_.size(); ++i) store_be64(&table[i * 8], l1_[i]);
  if (int err = pwrite_full(fd_.get(), table.data(), table.size(), *host); err != 0) {
    return fail(host_error("write L1 table", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;
  store_be64(field, new_size);
  store_be32(field + 8, header_.crypt_method);
  store_be32(field + 12, static_cast<uint32_t>(need));
  store_be64(field + 16, *host);
  if (int err = pwrite_full(fd_.get(), field, sizeof field, kOffSize); err != 0) {
    return fail(host_error("write header", err));
  }
  if (auto r = sync_locked("fdatasync"); !r) return r;
  const uint64_t old_offset = header_.l1_table_offset;
  const uint64_t old_bytes = (uint64_t{header_.l1_size} * 8 + cs - 1) & ~(cs - 1);
  header_.size = new_size;
  header_.l1_size = static_cast<uint32_t>(need);
  header_.l1_table_offset = *host;
  l1_.resize(need, 0);
  if (old_bytes > 0) {
    if (auto r = free_clusters_locked(old_offset, old_bytes); !r) return r;
  }
  if (auto r = flush_metadata_locked(); !r) return r;
  return sync_locked("fdatasync");
}

}  // namespace flotilla::storage::qcow2
