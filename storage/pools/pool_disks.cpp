// PoolManager: disks (create, resize, delete, attach), import, and rebuilding a partitioned
// pool's records from its device.
#include <unistd.h>

#include <sys/stat.h>

#include "common/uuid.h"

#include <filesystem>
#include <set>
#include "storage/image/image_tools.h"
#include "storage/pools/pool_errors.h"
#include "storage/pools/pools.h"

namespace flotilla::storage::pools {
namespace {

constexpr uint64_t kMaxDiskBytes = 1ULL << 50;  // 1 PiB: far past any pool, below overflow

PoolResult<void> check_size(const PoolRecord& pool, uint64_t size) {
  const uint64_t align = pool.type == PoolType::partitioned ? kExtentAlign : 512;
  if (size == 0 || size % align != 0 || size > kMaxDiskBytes) {
    return fail(pool_error(
        PoolErrc::invalid_argument,
        "size_bytes: must be a positive multiple of " + std::to_string(align) +
            (pool.type == PoolType::partitioned ? " (1 MiB) in a partitioned pool" : "") +
            ", at most 2^50",
        "size_bytes"));
  }
  return {};
}

std::string dir_disk_path(const PoolRecord& pool, const std::string& id,
                          const std::string& format) {
  return pool.path + "/" + id + "." + format;
}

}  // namespace

uint64_t PoolManager::allocated_bytes(const DiskRecord& disk) {
  if (!disk.extents.empty()) return total_length(disk.extents);
  struct stat st {};
  if (::stat(disk.path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

PoolResult<DiskRecord> PoolManager::record_disk(const PoolRecord& pool, const DiskRecord& disk) {
  if (pool.type == PoolType::partitioned) {
    auto disks = store_.list_disks(pool.id);
    if (!disks) return fail(from_store(disks.error()));
    disks->push_back(disk);
    if (auto r = write_header(pool, *disks); !r) return fail(r.error());
  }
  auto made = store_.create_disk(disk);
  if (!made) {
    if (pool.type == PoolType::partitioned) {
      if (auto disks = store_.list_disks(pool.id); disks) (void)write_header(pool, *disks);
    }
    return fail(from_store(made.error(), "name"));
  }
  return std::move(*made);
}

PoolResult<DiskRecord> PoolManager::create_disk(const PoolRecord& pool,
                                                const CreateDiskRequest& req) {
  if (auto r = check_size(pool, req.size_bytes); !r) return fail(r.error());
  if (pool.type == PoolType::partitioned && req.format != "raw") {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "format: a partitioned pool holds raw disks only", "format"));
  }
  std::string backing_path;
  if (!req.backing_disk_id.empty()) {
    if (req.format != "qcow2") {
      return fail(pool_error(PoolErrc::invalid_argument,
                             "backing: only a qcow2 disk can have a backing disk", "backing"));
    }
    auto base = store_.get_disk(req.backing_disk_id);
    if (!base) return fail(from_store(base.error(), "backing"));
    backing_path = base->path;
    if (!base->extents.empty()) {
      return fail(pool_error(PoolErrc::invalid_argument,
                             "backing: a partitioned-pool disk cannot back an overlay", "backing"));
    }
  }
  std::lock_guard lock(mu_);
  if (auto r = check_name_free(req.name); !r) return fail(r.error());
  DiskRecord d;
  d.id = make_uuid();
  d.name = req.name;
  d.pool_id = pool.id;
  d.format = req.format;
  d.size_bytes = req.size_bytes;
  d.backing_disk_id = req.backing_disk_id;
  if (pool.type == PoolType::dir) {
    d.path = dir_disk_path(pool, d.id, d.format);
    CreateOptions o;
    o.path = d.path;
    o.format = image_format(d.format);
    o.size_bytes = d.size_bytes;
    o.backing_path = backing_path;
    if (auto r = create_image(o); !r) return fail(from_image(r.error(), "format"));
    auto made = record_disk(pool, d);
    if (!made) ::unlink(d.path.c_str());
    return made;
  }
  auto map = extent_map(pool);
  if (!map) return fail(map.error());
  auto extents = map->allocate(d.size_bytes);
  if (!extents) {
    return fail(pool_error(PoolErrc::no_space,
                           "size_bytes: pool '" + pool.name + "' has " +
                               std::to_string(map->free_space().free_bytes) + " bytes free",
                           "size_bytes"));
  }
  d.path = pool.path;
  d.extents = std::move(*extents);
  // Free space is zeroed when a disk goes, but a daemon killed in the middle of an import
  // leaves its copied bytes there: zero (or unmap) on the way in too.
  if (auto r = zero_extents(pool, d.extents); !r) return fail(r.error());
  return record_disk(pool, d);
}

PoolResult<void> PoolManager::check_detached(const DiskRecord& disk) {
  if (!disk.attached_to.empty()) {
    return fail(pool_error(PoolErrc::invalid_state, "disk '" + disk.name + "' is attached to VM " +
                                                        disk.attached_to + "; detach it first"));
  }
  return {};
}

PoolResult<DiskRecord> PoolManager::resize_disk(const DiskRecord& disk_in, uint64_t new_size) {
  std::lock_guard lock(mu_);
  auto disk = store_.get_disk(disk_in.id);
  if (!disk) return fail(from_store(disk.error()));
  auto pool = store_.get_pool(disk->pool_id);
  if (!pool) return fail(from_store(pool.error()));
  if (auto r = check_size(*pool, new_size); !r) return fail(r.error());
  if (new_size <= disk->size_bytes) {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "size_bytes: disks only grow; '" + disk->name + "' has " +
                               std::to_string(disk->size_bytes) + " bytes",
                           "size_bytes"));
  }
  if (!disk->attached_to.empty()) {
    auto vm = store_.get_vm(disk->attached_to);
    if (vm && vm->actual != VmState::stopped && vm->actual != VmState::crashed) {
      return fail(pool_error(PoolErrc::invalid_state,
                             "disk '" + disk->name + "' is attached to VM '" + vm->spec.name +
                                 "', which is " + std::string(to_string(vm->actual))));
    }
  }
  if (pool->type == PoolType::dir) {
    if (auto r = resize_image(disk->path, image_format(disk->format), new_size); !r) {
      return fail(from_image(r.error(), "size_bytes"));
    }
    auto r = store_.resize_disk(disk->id, new_size, {});
    if (!r) return fail(from_store(r.error()));
    return std::move(*r);
  }
  auto map = extent_map(*pool);
  if (!map) return fail(map.error());
  auto grown = map->grow(disk->extents, new_size - disk->size_bytes);
  if (!grown) {
    return fail(pool_error(PoolErrc::no_space,
                           "size_bytes: pool '" + pool->name + "' has " +
                               std::to_string(map->free_space().free_bytes) + " bytes free",
                           "size_bytes"));
  }
  {
    // The new tail reads as zeroes whatever the free space held (see create_disk).
    OpenOptions o = open_options(*disk, false);
    o.extents.clear();
    for (const DiskExtent& e : *grown) o.extents.push_back({e.host_offset, e.length});
    auto img = open_image(o);
    if (!img) return fail(from_image(img.error()));
    if (auto z = (*img)->write_zeroes(disk->size_bytes, new_size - disk->size_bytes, true); !z) {
      return fail(from_image(z.error()));
    }
    if (auto f = (*img)->flush(); !f) return fail(from_image(f.error()));
  }
  auto disks = store_.list_disks(pool->id);
  if (!disks) return fail(from_store(disks.error()));
  for (DiskRecord& d : *disks) {
    if (d.id == disk->id) {
      d.size_bytes = new_size;
      d.extents = *grown;
    }
  }
  if (auto r = write_header(*pool, *disks); !r) return fail(r.error());
  auto r = store_.resize_disk(disk->id, new_size, *grown);
  if (!r) return fail(from_store(r.error()));
  return std::move(*r);
}

PoolResult<void> PoolManager::delete_disk(const DiskRecord& disk_in) {
  std::lock_guard lock(mu_);
  auto disk = store_.get_disk(disk_in.id);
  if (!disk) return fail(from_store(disk.error()));
  if (auto r = check_detached(*disk); !r) return r;
  auto all = store_.list_disks("");
  if (!all) return fail(from_store(all.error()));
  for (const DiskRecord& d : *all) {
    if (d.backing_disk_id == disk->id) {
      return fail(pool_error(PoolErrc::invalid_state,
                             "disk '" + disk->name + "' is the backing disk of '" + d.name + "'"));
    }
  }
  auto pool = store_.get_pool(disk->pool_id);
  if (!pool) return fail(from_store(pool.error()));
  if (pool->type == PoolType::dir) {
    // The record first: an orphan file is harmless, a record without its file is not.
    if (auto r = store_.delete_disk(disk->id); !r) return fail(from_store(r.error()));
    ::unlink(disk->path.c_str());
    return {};
  }
  // The data goes first, so nothing of it is ever handed to the next owner.
  if (auto r = zero_extents(*pool, disk->extents); !r) return r;
  std::vector<DiskRecord> rest;
  for (DiskRecord& d : *all) {
    if (d.pool_id == pool->id && d.id != disk->id) rest.push_back(std::move(d));
  }
  if (auto r = write_header(*pool, rest); !r) return r;
  if (auto r = store_.delete_disk(disk->id); !r) return fail(from_store(r.error()));
  return {};
}

PoolResult<VmRecord> PoolManager::attach_disk(const std::string& vm_id, const DiskRecord& disk,
                                              bool read_only) {
  std::lock_guard lock(mu_);
  auto vm = store_.attach_disk(vm_id, disk.id, read_only);
  if (!vm) return fail(from_store(vm.error(), "disk"));
  return std::move(*vm);
}

PoolResult<VmRecord> PoolManager::detach_disk(const std::string& vm_id, const DiskRecord& disk) {
  std::lock_guard lock(mu_);
  auto vm = store_.detach_disk(vm_id, disk.id);
  if (!vm) return fail(from_store(vm.error()));
  return std::move(*vm);
}

PoolResult<void> PoolManager::check_import(const PoolRecord& pool, const ImportRequest& req) {
  auto info = image_info(req.source_path);
  if (!info) return fail(from_image(info.error(), "source_path"));
  const std::string format = !req.format.empty()                  ? req.format
                             : pool.type == PoolType::partitioned ? "raw"
                                                                  : to_string(info->format);
  if (pool.type == PoolType::partitioned && format != "raw") {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "format: a partitioned pool holds raw disks only", "format"));
  }
  if (info->size_bytes == 0) {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "source_path: " + req.source_path + " is empty", "source_path"));
  }
  std::lock_guard lock(mu_);
  return check_name_free(req.name);
}

PoolResult<DiskRecord> PoolManager::import_disk(
    const PoolRecord& pool, const ImportRequest& req,
    const std::function<void(uint64_t, uint64_t)>& progress, const std::atomic<bool>* cancel) {
  auto info = image_info(req.source_path);
  if (!info) return fail(from_image(info.error(), "source_path"));
  OpenOptions so;
  so.path = req.source_path;
  so.format = info->format;
  so.read_only = true;
  auto src = open_image(so);
  if (!src) return fail(from_image(src.error(), "source_path"));

  DiskRecord d;
  d.id = req.id.empty() ? make_uuid() : req.id;
  d.name = req.name;
  d.pool_id = pool.id;
  d.format = !req.format.empty()                  ? req.format
             : pool.type == PoolType::partitioned ? "raw"
                                                  : to_string(info->format);
  d.size_bytes =
      align_up(info->size_bytes, pool.type == PoolType::partitioned ? kExtentAlign : 512);
  if (auto r = check_size(pool, d.size_bytes); !r) return fail(r.error());
  {
    std::lock_guard lock(mu_);
    if (auto r = check_name_free(d.name); !r) return fail(r.error());
    if (pool.type == PoolType::dir) {
      d.path = dir_disk_path(pool, d.id, d.format);
      CreateOptions o;
      o.path = d.path;
      o.format = image_format(d.format);
      o.size_bytes = d.size_bytes;
      if (auto r = create_image(o); !r) return fail(from_image(r.error(), "format"));
    } else {
      auto map = extent_map(pool);
      if (!map) return fail(map.error());
      auto extents = map->allocate(d.size_bytes);
      if (!extents) {
        return fail(pool_error(PoolErrc::no_space,
                               "pool '" + pool.name + "' has " +
                                   std::to_string(map->free_space().free_bytes) +
                                   " bytes free, the image needs " + std::to_string(d.size_bytes),
                               "source_path"));
      }
      d.path = pool.path;
      d.extents = std::move(*extents);
      reserved_[pool.id].push_back(d.extents);
    }
  }
  auto unreserve = [&] {
    auto& lists = reserved_[pool.id];
    std::erase(lists, d.extents);
  };
  auto undo = [&](PoolError e) -> PoolResult<DiskRecord> {
    if (pool.type == PoolType::dir) {
      ::unlink(d.path.c_str());
    } else {
      (void)zero_extents(pool, d.extents);
      std::lock_guard lock(mu_);
      unreserve();
    }
    return fail(std::move(e));
  };
  if (pool.type == PoolType::partitioned) {
    // copy_image skips zero runs: the extents must read as zeroes first (see create_disk).
    if (auto r = zero_extents(pool, d.extents); !r) return undo(r.error());
  }
  auto dst = open_image(open_options(d, false));
  if (!dst) return undo(from_image(dst.error()));
  if (auto r = copy_image(**src, **dst, progress, cancel); !r) return undo(from_image(r.error()));
  dst->reset();
  std::lock_guard lock(mu_);
  if (pool.type == PoolType::partitioned) unreserve();
  auto made = record_disk(pool, d);
  if (!made) {
    if (pool.type == PoolType::dir) {
      ::unlink(d.path.c_str());
    } else {
      (void)zero_extents(pool, d.extents);
    }
    return made;
  }
  return made;
}

std::vector<std::string> PoolManager::remove_orphans() {
  std::lock_guard lock(mu_);
  std::vector<std::string> removed;
  auto pools = store_.list_pools();
  auto disks = store_.list_disks("");
  if (!pools || !disks) return removed;
  std::set<std::string> known;
  for (const DiskRecord& d : *disks) known.insert(d.path);
  for (const PoolRecord& p : *pools) {
    if (p.type != PoolType::dir) continue;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(p.path, ec)) {
      const std::string name = entry.path().filename().string();
      const size_t dot = name.find('.');
      if (dot == std::string::npos || !is_uuid(name.substr(0, dot))) continue;
      const std::string ext = name.substr(dot + 1);
      if (ext != "raw" && ext != "qcow2") continue;
      const std::string path = dir_disk_path(p, name.substr(0, dot), ext);
      if (known.count(path) == 0 && ::unlink(path.c_str()) == 0) removed.push_back(path);
    }
  }
  return removed;
}

PoolResult<std::vector<DiskRecord>> PoolManager::rebuild_from_device(const PoolRecord& pool) {
  std::lock_guard lock(mu_);
  return rebuild_locked(pool);
}

PoolResult<std::vector<DiskRecord>> PoolManager::rebuild_locked(const PoolRecord& pool) {
  if (pool.type != PoolType::partitioned) {
    return fail(pool_error(PoolErrc::invalid_argument,
                           "pool '" + pool.name + "' is a dir pool: nothing to rebuild"));
  }
  auto header = read_pool_header(pool.path);
  if (!header) return fail(from_header(header.error()));
  if (header->pool_id != pool.id) {
    return fail(pool_error(PoolErrc::corrupt, pool.path + " holds the map of pool " +
                                                  header->pool_id + ", not " + pool.id));
  }
  auto map = extent_map(pool);
  if (!map) return fail(map.error());
  auto existing = store_.list_disks(pool.id);
  if (!existing) return fail(from_store(existing.error()));
  for (const HeaderDisk& hd : header->disks) {
    auto same = std::find_if(existing->begin(), existing->end(),
                             [&](const DiskRecord& d) { return d.id == hd.id; });
    if (same != existing->end()) {
      if (same->extents != hd.extents) {
        return fail(pool_error(PoolErrc::corrupt, "disk '" + hd.name +
                                                      "': the device's map and the store's "
                                                      "extents differ"));
      }
      continue;
    }
    for (const DiskExtent& e : hd.extents) {
      if (!map->mark_used(e)) {
        return fail(pool_error(PoolErrc::corrupt, "disk '" + hd.name +
                                                      "' in the device's map overlaps another "
                                                      "disk or leaves the pool"));
      }
    }
    DiskRecord d;
    d.id = hd.id;
    d.name = hd.name;
    d.pool_id = pool.id;
    d.format = hd.format;
    d.size_bytes = hd.size_bytes;
    d.path = pool.path;
    d.extents = hd.extents;
    if (auto made = store_.create_disk(d); !made) return fail(from_store(made.error()));
  }
  auto disks = store_.list_disks(pool.id);
  if (!disks) return fail(from_store(disks.error()));
  return std::move(*disks);
}

}  // namespace flotilla::storage::pools
