// PoolManager: pools (create, delete, usage), the extent map and the on-device header.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/uuid.h"
#include "storage/image/raw_image.h"
#include "storage/pools/pool_errors.h"
#include "storage/pools/pools.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

namespace flotilla::storage::pools {

std::string_view to_string(PoolErrc c) {
  switch (c) {
    case PoolErrc::invalid_argument:
      return "invalid_argument";
    case PoolErrc::not_found:
      return "not_found";
    case PoolErrc::conflict:
      return "conflict";
    case PoolErrc::invalid_state:
      return "invalid_state";
    case PoolErrc::no_space:
      return "no_space";
    case PoolErrc::io:
      return "io";
    case PoolErrc::corrupt:
      return "corrupt";
  }
  return "io";
}

PoolError pool_error(PoolErrc code, std::string message, std::string field) {
  return PoolError{code, std::move(message), std::move(field)};
}

PoolError from_store(const StoreError& e, std::string field) {
  switch (e.code) {
    case StoreErrc::not_found:
      return pool_error(PoolErrc::not_found, e.message, std::move(field));
    case StoreErrc::conflict:
      return pool_error(PoolErrc::conflict, e.message, std::move(field));
    case StoreErrc::invalid_state:
      return pool_error(PoolErrc::invalid_state, e.message, std::move(field));
    case StoreErrc::io:
      return pool_error(PoolErrc::io, e.message);
    case StoreErrc::corrupt:
      return pool_error(PoolErrc::corrupt, e.message);
  }
  return pool_error(PoolErrc::io, e.message);
}

PoolError from_image(const ImageError& e, std::string field) {
  switch (e.code) {
    case ImageErrc::kNotFound:
      return pool_error(PoolErrc::not_found, e.message, std::move(field));
    case ImageErrc::kNoSpace:
      return pool_error(PoolErrc::no_space, e.message);
    case ImageErrc::kInvalidArgument:
    case ImageErrc::kUnsupported:
    case ImageErrc::kOutOfRange:
      return pool_error(PoolErrc::invalid_argument, e.message, std::move(field));
    case ImageErrc::kCorrupt:
      return pool_error(PoolErrc::corrupt, e.message, std::move(field));
    case ImageErrc::kReadOnly:
    case ImageErrc::kIo:
      break;
  }
  return pool_error(PoolErrc::io, e.message);
}

PoolError from_header(const HeaderError& e) {
  return pool_error(e.code == HeaderError::Code::io          ? PoolErrc::io
                    : e.code == HeaderError::Code::too_large ? PoolErrc::no_space
                                                             : PoolErrc::corrupt,
                    e.message);
}

ImageFormat image_format(const std::string& format) {
  return format == "qcow2" ? ImageFormat::kQcow2 : ImageFormat::kRaw;
}

PoolResult<uint64_t> device_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail(pool_error(errno == ENOENT ? PoolErrc::not_found : PoolErrc::io,
                           path + ": " + std::strerror(errno), "path"));
  }
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (!S_ISBLK(st.st_mode)) {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "path: " + path + " is not a block device or a regular file", "path"));
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  uint64_t size = 0;
  // SAFETY: BLKGETSIZE64 writes one uint64_t through the pointer.
  if (!fd || ::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
    return fail(pool_error(PoolErrc::io, path + ": BLKGETSIZE64: " + std::strerror(errno)));
  }
  return size;
}

namespace {

constexpr uint64_t kMinPoolBytes = kHeaderAreaBytes + kExtentAlign;

// Creates a sparse file of `size` bytes (O_EXCL), fsynced with its folder.
PoolResult<void> create_pool_file(const std::string& path, uint64_t size) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!fd) return fail(pool_error(PoolErrc::io, path + ": " + std::strerror(errno), "path"));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0 || ::fsync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return fail(pool_error(err == ENOSPC ? PoolErrc::no_space : PoolErrc::io,
                           path + ": " + std::strerror(err), "size_bytes"));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  UniqueFd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}

}  // namespace

PoolResult<ExtentMap> PoolManager::extent_map(const PoolRecord& pool,
                                              const std::string& except_disk) {
  ExtentMap map(kHeaderAreaBytes, kHeaderAreaBytes + pool.capacity_bytes);
  auto disks = store_.list_disks(pool.id);
  if (!disks) return fail(from_store(disks.error()));
  for (const DiskRecord& d : *disks) {
    if (d.id == except_disk) continue;
    for (const DiskExtent& e : d.extents) {
      if (!map.mark_used(e)) {
        return fail(pool_error(PoolErrc::corrupt, "pool '" + pool.name + "': disk '" + d.name +
                                                      "' has an extent at " +
                                                      std::to_string(e.host_offset) +
                                                      " that overlaps another or leaves the pool"));
      }
    }
  }
  for (const auto& list : reserved_[pool.id]) {
    for (const DiskExtent& e : list) map.mark_used(e);
  }
  return map;
}

PoolResult<void> PoolManager::write_header(const PoolRecord& pool,
                                           const std::vector<DiskRecord>& disks) {
  PoolHeader h;
  h.pool_id = pool.id;
  h.pool_name = pool.name;
  h.device_bytes = kHeaderAreaBytes + pool.capacity_bytes;
  for (const DiskRecord& d : disks)
    h.disks.push_back({d.id, d.name, d.format, d.size_bytes, d.extents});
  if (auto r = write_pool_header(pool.path, h); !r) return fail(from_header(r.error()));
  return {};
}

PoolResult<void> PoolManager::zero_extents(const PoolRecord& pool,
                                           const std::vector<DiskExtent>& extents) {
  if (extents.empty()) return {};
  OpenOptions o;
  o.path = pool.path;
  for (const DiskExtent& e : extents) o.extents.push_back({e.host_offset, e.length});
  auto img = RawImage::open(o);
  if (!img) return fail(from_image(img.error()));
  if (auto r = (*img)->write_zeroes(0, (*img)->size_bytes(), true); !r) {
    return fail(from_image(r.error()));
  }
  if (auto r = (*img)->flush(); !r) return fail(from_image(r.error()));
  return {};
}

PoolResult<void> PoolManager::check_name_free(const std::string& name) {
  auto existing = store_.get_disk_by_name(name);
  if (existing) {
    return fail(
        pool_error(PoolErrc::conflict, "name: a disk named '" + name + "' already exists", "name"));
  }
  if (existing.error().code != StoreErrc::not_found) return fail(from_store(existing.error()));
  return {};
}

PoolResult<PoolRecord> PoolManager::create_pool(const CreatePoolRequest& req) {
  std::lock_guard lock(mu_);
  if (auto p = store_.get_pool_by_name(req.name); p) {
    return fail(
        pool_error(PoolErrc::conflict, "name: a pool named '" + req.name + "' exists", "name"));
  }
  auto pools = store_.list_pools();
  if (!pools) return fail(from_store(pools.error()));
  for (const PoolRecord& p : *pools) {
    if (p.path == req.path) {
      return fail(pool_error(PoolErrc::conflict,
                             "path: " + req.path + " is pool '" + p.name + "' already", "path"));
    }
  }
  PoolRecord pool;
  pool.name = req.name;
  pool.type = req.type;
  pool.path = req.path;
  if (req.type == PoolType::dir) {
    std::error_code ec;
    std::filesystem::create_directories(req.path, ec);
    if (ec || !std::filesystem::is_directory(req.path, ec)) {
      return fail(pool_error(PoolErrc::invalid_argument,
                             "path: " + req.path + " is not a folder we can create or use" +
                                 (ec ? " (" + ec.message() + ")" : std::string()),
                             "path"));
    }
    auto made = store_.create_pool(pool);
    if (!made) return fail(from_store(made.error(), "name"));
    return std::move(*made);
  }

  bool created_file = false;
  struct stat st {};
  if (::stat(req.path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return fail(pool_error(PoolErrc::io, req.path + ": " + std::strerror(errno), "path"));
    }
    if (req.size_bytes == 0) {
      return fail(pool_error(PoolErrc::invalid_argument,
                             "size_bytes: is required to create the missing file " + req.path,
                             "size_bytes"));
    }
    if (req.size_bytes < kMinPoolBytes || req.size_bytes % kExtentAlign != 0) {
      return fail(pool_error(PoolErrc::invalid_argument,
                             "size_bytes: must be a multiple of 1 MiB and at least 2 MiB",
                             "size_bytes"));
    }
    if (auto r = create_pool_file(req.path, req.size_bytes); !r) return fail(r.error());
    created_file = true;
  } else if (S_ISREG(st.st_mode) && req.size_bytes != 0 &&
             static_cast<uint64_t>(st.st_size) != req.size_bytes) {
    return fail(pool_error(
        PoolErrc::invalid_argument,
        "size_bytes: " + req.path + " exists with " + std::to_string(st.st_size) + " bytes",
        "size_bytes"));
  }
  auto undo = [&] {
    if (created_file) ::unlink(req.path.c_str());
  };
  auto size = device_size(req.path);
  if (!size) return undo(), fail(size.error());
  if (*size < kMinPoolBytes) {
    undo();
    return fail(pool_error(PoolErrc::invalid_argument,
                           "path: " + req.path + " is smaller than 2 MiB", "path"));
  }
  const ExtentMap empty(kHeaderAreaBytes, *size);
  pool.capacity_bytes = empty.end() - empty.start();

  // A device that already carries a pool's map is adopted with its disks.
  if (auto header = read_pool_header(req.path); header && !created_file) {
    pool.id = header->pool_id;
    if (header->device_bytes > *size) {
      return fail(
          pool_error(PoolErrc::corrupt, req.path + "'s header describes a larger device", "path"));
    }
    auto made = store_.create_pool(pool);
    if (!made) return fail(from_store(made.error(), "path"));
    if (auto disks = rebuild_locked(*made); !disks) {
      (void)store_.delete_pool(made->id);
      return fail(disks.error());
    }
    return std::move(*made);
  }
  pool.id = make_uuid();
  if (auto r = wipe_pool_header(req.path); !r) return undo(), fail(from_header(r.error()));
  if (!created_file) {
    // Whatever the device held before must not reach a guest.
    if (auto r = zero_extents(pool, {{empty.start(), pool.capacity_bytes}}); !r)
      return fail(r.error());
  }
  if (auto r = write_header(pool, {}); !r) return undo(), fail(r.error());
  auto made = store_.create_pool(pool);
  if (!made) {
    (void)wipe_pool_header(req.path);
    undo();
    return fail(from_store(made.error(), "name"));
  }
  return std::move(*made);
}

PoolResult<void> PoolManager::delete_pool(const PoolRecord& pool) {
  std::lock_guard lock(mu_);
  auto disks = store_.list_disks(pool.id);
  if (!disks) return fail(from_store(disks.error()));
  if (!disks->empty() || !reserved_[pool.id].empty()) {
    return fail(pool_error(PoolErrc::invalid_state,
                           "pool '" + pool.name + "' holds " + std::to_string(disks->size()) +
                               " disk(s)" + (reserved_[pool.id].empty() ? "" : " and an import") +
                               "; delete them first"));
  }
  reserved_.erase(pool.id);
  if (pool.type == PoolType::partitioned) {
    // The map goes first: a pool whose record is gone must not be adopted again.
    if (auto r = wipe_pool_header(pool.path); !r && r.error().code != HeaderError::Code::io) {
      return fail(from_header(r.error()));
    }
  }
  if (auto r = store_.delete_pool(pool.id); !r) return fail(from_store(r.error()));
  return {};
}

PoolResult<PoolUsage> PoolManager::usage(const PoolRecord& pool) {
  std::lock_guard lock(mu_);
  PoolUsage u;
  auto disks = store_.list_disks(pool.id);
  if (!disks) return fail(from_store(disks.error()));
  u.disk_count = disks->size();
  if (pool.type == PoolType::partitioned) {
    auto map = extent_map(pool);
    if (!map) return fail(map.error());
    const FreeSpace f = map->free_space();
    u.capacity_bytes = pool.capacity_bytes;
    u.free_bytes = f.free_bytes;
    u.largest_free_bytes = f.largest_free_bytes;
    u.fragmentation = f.fragmentation;
    u.allocated_bytes = pool.capacity_bytes - f.free_bytes;
    return u;
  }
  struct statvfs vfs {};
  if (::statvfs(pool.path.c_str(), &vfs) != 0) {
    return fail(pool_error(PoolErrc::io, pool.path + ": statvfs: " + std::strerror(errno)));
  }
  u.capacity_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  u.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  u.largest_free_bytes = u.free_bytes;
  for (const DiskRecord& d : *disks) u.allocated_bytes += allocated_bytes(d);
  return u;
}

OpenOptions PoolManager::open_options(const DiskRecord& disk, bool read_only) {
  OpenOptions o;
  o.path = disk.path;
  o.format = image_format(disk.format);
  o.read_only = read_only;
  for (const DiskExtent& e : disk.extents) o.extents.push_back({e.host_offset, e.length});
  return o;
}

}  // namespace flotilla::storage::pools
