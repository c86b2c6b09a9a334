// Disk pools: where virtual disks live (issue 5, STORAGE.md).
//  - dir pool: a folder, one image file per disk (raw or qcow2), named <disk id>.<format>.
//  - partitioned pool: one large block device or file; its first MiB holds the on-device map
//    (pool_header.h), the rest is cut into 1 MiB-aligned extents (extent_map.h), best fit.
//    A disk is an ordered list of extents; its map lives in SQLite and on the device, so the
//    pool can be rebuilt from the device alone (rebuild_from_device). Deleting a disk zeroes
//    its extents before they go back to the free space, so the next owner never reads them.
//
// PoolManager does the file work and keeps the store in step: files and the on-device map
// first, then the record. Thread-safe: one mutex serialises every change of a pool's space
// (an import holds it only while it reserves space and while it records the disk).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "storage/image/block_image.h"
#include "storage/model.h"
#include "storage/pools/extent_map.h"
#include "storage/state_store.h"

namespace flotilla::storage::pools {

enum class PoolErrc {
  invalid_argument,  // bad input; `field` names it (422)
  not_found,         // no such pool/disk/source (404, or 422 with a field)
  conflict,          // name or path taken (409)
  invalid_state,     // pool holds disks, disk attached, shrink... (409)
  no_space,          // the pool has not enough free space (507-ish; the API says 409/422)
  io,                // the host failed
  corrupt,           // the on-device map or an image is damaged
};
std::string_view to_string(PoolErrc c);

struct PoolError {
  PoolErrc code = PoolErrc::io;
  std::string message;
  std::string field;  // JSON field of the request at fault, or ""
};
template <class T>
using PoolResult = Result<T, PoolError>;

struct PoolUsage {
  uint64_t capacity_bytes = 0;
  uint64_t allocated_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t largest_free_bytes = 0;
  double fragmentation = 0.0;
  size_t disk_count = 0;
};

struct CreatePoolRequest {
  std::string name;
  PoolType type = PoolType::dir;
  std::string path;
  uint64_t size_bytes = 0;  // partitioned, file missing: create it with this size (0 = not given)
};

struct CreateDiskRequest {
  std::string name;
  std::string format = "raw";
  uint64_t size_bytes = 0;
  std::string backing_disk_id;  // qcow2 overlay (dir pools), or ""
};

struct ImportRequest {
  std::string name;
  std::string source_path;
  std::string format;   // the new disk's format; "" = the source's (raw in partitioned pools)
  std::string id = {};  // the new disk's id ("" = a new one); the API names its operation after it
};

class PoolManager {
 public:
  explicit PoolManager(StateStore& store) : store_(store) {}
  PoolManager(const PoolManager&) = delete;
  PoolManager& operator=(const PoolManager&) = delete;

  // dir: creates the folder if missing. partitioned: a block device or a file (created sparse
  // with size_bytes if missing); a device that already carries a pool header is adopted (its
  // disks come back, rebuild_from_device), otherwise its header area and data are zeroed.
  PoolResult<PoolRecord> create_pool(const CreatePoolRequest& request);
  // Refused while the pool holds disks; wipes a partitioned pool's header.
  PoolResult<void> delete_pool(const PoolRecord& pool);
  PoolResult<PoolUsage> usage(const PoolRecord& pool);

  PoolResult<DiskRecord> create_disk(const PoolRecord& pool, const CreateDiskRequest& request);
  // Grow only (a smaller or equal size is invalid_argument naming size_bytes).
  PoolResult<DiskRecord> resize_disk(const DiskRecord& disk, uint64_t new_size);
  // Refused while attached; zeroes a partitioned disk's extents before freeing them.
  PoolResult<void> delete_disk(const DiskRecord& disk);
  // Attach/detach through the manager, so a delete never races an attach (store rules apply:
  // VM stopped or crashed, a disk attached once).
  PoolResult<VmRecord> attach_disk(const std::string& vm_id, const DiskRecord& disk,
                                   bool read_only);
  PoolResult<VmRecord> detach_disk(const std::string& vm_id, const DiskRecord& disk);
  // Bytes the disk takes on the host (dir: the file's allocated blocks; partitioned: extents).
  uint64_t allocated_bytes(const DiskRecord& disk);

  // Checks an import before it is queued (pool type, name free, source readable, format).
  PoolResult<void> check_import(const PoolRecord& pool, const ImportRequest& request);
  // Copies source_path into a new disk; progress(done, total) as it goes. On any failure the
  // new file or the reserved extents are removed/zeroed and no disk row is left.
  PoolResult<DiskRecord> import_disk(const PoolRecord& pool, const ImportRequest& request,
                                     const std::function<void(uint64_t, uint64_t)>& progress,
                                     const std::atomic<bool>* cancel = nullptr);

  // Reads the partitioned pool's on-device map and inserts every disk the store lacks (same
  // ids, names, extents). Refuses a corrupt header, a header of another pool, and a map that
  // disagrees with a disk the store has. Returns the pool's disks afterwards.
  PoolResult<std::vector<DiskRecord>> rebuild_from_device(const PoolRecord& pool);

  // At daemon start: removes image files of dir pools that no disk record names (an import or a
  // create the daemon was killed in), files named <uuid>.raw|.qcow2 only. Returns their paths.
  std::vector<std::string> remove_orphans();

  // How the monitor opens a disk (path, format, extents; read_only from the attachment).
  static OpenOptions open_options(const DiskRecord& disk, bool read_only);

 private:
  // Everything below expects mu_ held.
  PoolResult<ExtentMap> extent_map(const PoolRecord& pool, const std::string& except_disk = {});
  PoolResult<void> write_header(const PoolRecord& pool, const std::vector<DiskRecord>& disks);
  PoolResult<DiskRecord> record_disk(const PoolRecord& pool, const DiskRecord& disk);
  PoolResult<void> zero_extents(const PoolRecord& pool, const std::vector<DiskExtent>& extents);
  PoolResult<void> check_name_free(const std::string& name);
  PoolResult<std::vector<DiskRecord>> rebuild_locked(const PoolRecord& pool);
  PoolResult<void> check_detached(const DiskRecord& disk);

  StateStore& store_;
  std::mutex mu_;
  // Extents held by imports in flight, per pool id (not yet in the store). GUARDED_BY(mu_)
  std::unordered_map<std::string, std::vector<std::vector<DiskExtent>>> reserved_;
};

// Device or file size in bytes (BLKGETSIZE64 for block devices).
PoolResult<uint64_t> device_size(const std::string& path);

}  // namespace flotilla::storage::pools
