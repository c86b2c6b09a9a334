// Qcow2Image: a qcow2 v3 image (v2 read-only) with its backing chain, as a BlockImage.
//
// Locking: mu_ guards every piece of metadata (L1, L2 cache, refcount table and cache, the
// allocator, pending frees, host_end_). Reads and writes of clusters that are already allocated
// map under mu_ and move their data outside it, so those run in parallel; a write needing fresh
// clusters allocates them under mu_, marks the guest clusters in flight (in_flight_), writes
// outside mu_, then links them into the L2 table under mu_ again. Rewrites of zero-allocated
// and compressed clusters run wholly under mu_.
// Normal data clusters are never freed while the image is open (discard keeps the cluster and
// sets the zero flag, punching the host file's blocks), so a request that mapped a cluster and
// then dropped the lock can never write into a cluster that became metadata or another
// guest range. Only compressed clusters and replaced tables are freed, and those are touched
// under mu_ only.
//
// Write ordering (crash safety, see storage/image/README.md): data before the L2 entry naming
// it; refcount blocks before the L2/L1 entries that use their clusters, with fdatasync between
// the steps; freed clusters' refcounts drop only after the tables no longer naming them are on
// disk. A crash can leak clusters, never leave a reference to an unallocated one.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "storage/image/block_image.h"
#include "storage/image/qcow2/qcow2_format.h"

namespace flotilla::storage::qcow2 {

// Files already in the chain being opened (device, inode): a second visit is a loop.
using ChainSeen = std::vector<std::pair<dev_t, ino_t>>;

class Qcow2Image final : public BlockImage {
 public:
  // depth = how many images are above this one in the chain.
  static ImageResult<std::unique_ptr<Qcow2Image>> open(const OpenOptions& options, int depth,
                                                       ChainSeen& seen);
  ~Qcow2Image() override;

  uint64_t size_bytes() const override { return header_.size; }
  bool read_only() const override { return read_only_; }
  ImageFormat format() const override { return ImageFormat::kQcow2; }

  ImageResult<void> readv(uint64_t offset, std::span<const iovec> iov) override;
  ImageResult<void> writev(uint64_t offset, std::span<const iovec> iov) override;
  ImageResult<void> flush() override;
  ImageResult<void> discard(uint64_t offset, uint64_t length) override;
  ImageResult<void> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
  // Maps ranges made only of plain data clusters (allocated, not zero, not compressed: those
  // are written in place, so reads and writes alike). Anything else, or mu_ held by someone
  // else (never waits for it), answers false.
  ImageResult<bool> map_direct(uint64_t offset, uint64_t length, bool write,
                               std::vector<HostSegment>& out) override;

  // Grows the virtual size (a larger L1 is written and switched to crash-safely).
  ImageResult<void> grow(uint64_t new_size);

  const std::vector<std::string>& chain() const { return chain_; }
  const std::string& backing_path() const { return backing_path_; }

 private:
  enum class Kind { kData, kZero, kUnallocated, kCompressed };
  struct Mapping {
    Kind kind = Kind::kUnallocated;
    uint64_t host = 0;       // kData: host offset of the first byte; kCompressed: the L2 entry
    uint64_t length = 0;     // guest bytes this mapping covers (from the requested offset)
    bool allocated = false;  // kZero with a host cluster kept ("zero, allocated")
  };
  struct Table {
    std::vector<uint64_t> entries;  // host-endian L2 entries
    bool dirty = false;
    uint64_t last_use = 0;
  };
  struct RefBlock {
    std::vector<uint8_t> bytes;  // the on-disk block as is
    bool dirty = false;
    uint64_t last_use = 0;
  };

  Qcow2Image() = default;
  ImageResult<void> load_tables();
  ImageResult<void> open_backing(const OpenOptions& options, int depth, ChainSeen& seen);
  ImageResult<void> prepare_for_writing();
  // qcow2_repair.cpp: raise refcounts a lazy-refcount crash left short, clear the dirty bit.
  ImageResult<void> repair_dirty_locked();
  ImageResult<void> create_ref_block_past_end_locked(uint64_t block_index);
  ImageError range_error(uint64_t offset, uint64_t length) const;

  // --- mapping (qcow2_map.cpp) ---
  ImageResult<Mapping> map_locked(uint64_t guest, uint64_t max_length);
  ImageResult<Table*> l2_table_locked(uint64_t l2_offset);
  ImageResult<Table*> l2_for_write_locked(uint64_t l1_index);
  ImageResult<void> check_data_cluster(uint64_t host) const;
  // True when [host, host + one cluster) overlaps the header, the L1 or the refcount table.
  bool overlaps_fixed_tables(uint64_t host) const;
  ImageResult<void> read_compressed_locked(uint64_t entry, uint64_t in_cluster,
                                           std::span<const iovec> out);
  // Fills out with the guest bytes at guest for a mapping that is not kData (zeroes, backing).
  ImageResult<void> read_unmapped(const Mapping& m, uint64_t guest, std::span<const iovec> out);
  ImageResult<void> read_backing(uint64_t guest, std::span<const iovec> out);

  // --- writes (qcow2_write.cpp) ---
  // Drops and retakes `lock` around the data write of a run of fresh clusters.
  ImageResult<uint64_t> write_allocating_locked(std::unique_lock<std::mutex>& lock, uint64_t guest,
                                                std::span<const iovec> iov, const Mapping& first);
  bool in_flight_locked(uint64_t first_cluster, uint64_t count) const;
  ImageResult<void> fill_cow(uint64_t guest, uint64_t length, const Mapping& m,
                             std::vector<uint8_t>& out);
  ImageResult<void> zero_cluster_locked(uint64_t guest_cluster, bool punch);

  // --- refcounts and allocation (qcow2_refcount.cpp) ---
  ImageResult<RefBlock*> ref_block_locked(uint64_t block_index);
  ImageResult<uint64_t> refcount_locked(uint64_t cluster_index);
  ImageResult<void> set_refcount_locked(uint64_t cluster_index, uint64_t value);
  ImageResult<uint64_t> find_free_run_locked(uint64_t count);
  ImageResult<uint64_t> alloc_clusters_locked(uint64_t count);  // returns a host offset
  ImageResult<void> create_ref_block_locked(uint64_t block_index);
  ImageResult<void> grow_ref_table_locked(uint64_t min_entries);
  ImageResult<void> free_clusters_locked(uint64_t host, uint64_t bytes);
  uint64_t refs_per_block() const { return (header_.cluster_size() * 8) >> header_.refcount_order; }

  // --- write-back (qcow2_refcount.cpp) ---
  ImageResult<void> flush_metadata_locked();
  ImageResult<void> evict_locked();
  ImageResult<void> sync_locked(const char* what);
  ImageError host_error(const char* what, int err) const;

  std::string path_;
  UniqueFd fd_;
  UniqueFd direct_fd_;  // O_DIRECT for aligned data I/O when asked for
  bool read_only_ = true;
  Header header_;
  std::unique_ptr<BlockImage> backing_;
  uint64_t backing_size_ = 0;
  std::string backing_path_;
  std::vector<std::string> chain_;
  uint64_t metadata_end_ = 0;  // end of the header's fixed tables (for overlap checks)

  mutable std::mutex mu_;
  std::vector<uint64_t> l1_;         // guarded by mu_
  std::vector<uint64_t> l1_dirty_;   // guarded by mu_: indexes to write
  std::vector<uint64_t> ref_table_;  // guarded by mu_
  // Host offsets of every L2 table and refcount block (never freed while open): a data cluster
  // at one of them is corrupt metadata, refused rather than written through.
  std::unordered_set<uint64_t> table_clusters_;               // guarded by mu_
  std::unordered_map<uint64_t, Table> l2_cache_;              // guarded by mu_, key: host offset
  std::unordered_map<uint64_t, RefBlock> ref_cache_;          // guarded by mu_, key: block index
  std::vector<std::pair<uint64_t, uint64_t>> pending_frees_;  // guarded by mu_: host, bytes
  // Guest clusters whose fresh host clusters are being written without the lock (not yet in
  // their L2 table); other allocations and zeroing of them wait on in_flight_cv_.
  struct InFlight {
    uint64_t first_cluster;
    uint64_t count;
  };
  std::vector<InFlight> in_flight_;  // guarded by mu_
  std::condition_variable in_flight_cv_;
  uint64_t use_clock_ = 0;  // guarded by mu_
  uint64_t free_hint_ = 0;  // guarded by mu_: cluster index to search from
  uint64_t host_end_ = 0;   // guarded by mu_: bytes; past it every cluster is unused
  size_t max_l2_tables_ = 0;
  size_t max_ref_blocks_ = 0;
  uint64_t compressed_key_ = ~0ull;      // guarded by mu_: L2 entry of the decompressed cluster
  std::vector<uint8_t> compressed_buf_;  // guarded by mu_
};

}  // namespace flotilla::storage::qcow2
