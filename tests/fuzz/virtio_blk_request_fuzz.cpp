// libFuzzer target: the virtio-blk request parser (vmm/devices/virtio/blk/request.h), then the
// backend on a real 1 MiB raw image in /dev/shm. Input layout:
//   byte 0: flags (bit0 read-only, bit1 discard, bit2 write-zeroes, bit3 may-unmap)
//   byte 1: capacity in KiB (×2 sectors), byte 2: seg_max, byte 3: descriptor count (≤ 16)
//   per descriptor 3 bytes: length (little-endian 16 bits, capped at 8 KiB), writable flag
//   then the bytes the buffers start with (the header, segments, data), the rest zero.
// Invariants: an accepted request stays inside the capacity and inside the chain's buffers;
// its status byte is the last writable byte; read-only disks never accept a write; a refusal
// with a status byte gets IOERR or UNSUPP; executing never grows or escapes the image.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "storage/image/block_image.h"
#include "vmm/devices/virtio/blk/backend.h"
#include "vmm/devices/virtio/blk/request.h"

using namespace flotilla::vmm::virtio;

namespace {

#define BLK_FUZZ_CHECK(cond)                                   \
  do {                                                         \
    if (!(cond)) {                                             \
      std::fprintf(stderr, "invariant violated: %s\n", #cond); \
      std::abort();                                            \
    }                                                          \
  } while (0)

constexpr uint64_t kImageBytes = 1 << 20;

struct Image {
  std::string path;
  BlockMetrics metrics;
  std::unique_ptr<BlkBackend> backend;
  Image() {
    path = "/dev/shm/flotilla-blk-fuzz-" + std::to_string(::getpid()) + ".raw";
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || ::ftruncate(fileno(f), kImageBytes) != 0) std::abort();
    std::fclose(f);
    flotilla::storage::OpenOptions o;
    o.path = path;
    auto img = flotilla::storage::open_image(o);
    if (!img) std::abort();
    backend = std::make_unique<BlkBackend>("fuzz", "fuzz-serial", std::move(*img), metrics);
  }
  ~Image() { ::unlink(path.c_str()); }
};

bool inside(const std::vector<std::vector<uint8_t>>& bufs, const void* p, size_t len, bool writable,
            const DescriptorChain& chain) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < bufs.size(); ++i) {
    if (chain.descriptors[i].device_writable != writable || bufs[i].empty()) continue;
    const uint8_t* lo = bufs[i].data();
    if (b >= lo && b + len <= lo + bufs[i].size()) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Image image;
  if (size < 4) return 0;
  BlkLimits limits;
  limits.read_only = data[0] & 1;
  limits.discard = data[0] & 2;
  limits.write_zeroes = data[0] & 4;
  limits.write_zeroes_may_unmap = data[0] & 8;
  limits.capacity_sectors = std::min<uint64_t>(uint64_t{data[1]} * 2, kImageBytes / 512);
  limits.seg_max = data[2];
  limits.max_discard_sectors = limits.max_write_zeroes_sectors = 256;
  limits.max_discard_seg = limits.max_write_zeroes_seg = 4;
  const size_t count = std::min<size_t>(data[3], 16);
  size_t pos = 4;
  std::vector<std::vector<uint8_t>> bufs;
  DescriptorChain chain;
  chain.head = 3;
  for (size_t i = 0; i < count && pos + 3 <= size; ++i, pos += 3) {
    const size_t len = std::min<size_t>(data[pos] | (size_t{data[pos + 1]} << 8), 8192);
    const bool writable = data[pos + 2] & 1;
    if (!writable && chain.writable_bytes > 0) break;  // Queue::pop guarantees the order
    bufs.emplace_back(len, 0);
    chain.descriptors.push_back(
        Descriptor{0x1000 * (i + 1), static_cast<uint32_t>(len), writable, nullptr});
    (writable ? chain.writable_bytes : chain.readable_bytes) += len;
  }
  for (size_t i = 0; i < bufs.size(); ++i) {
    chain.descriptors[i].host = bufs[i].empty() ? nullptr : bufs[i].data();
    const size_t take = std::min(bufs[i].size(), size - pos);
    if (take > 0) std::memcpy(bufs[i].data(), data + pos, take);
    pos += take;
  }

  auto r = parse_blk_request(chain, limits);
  if (!r) {
    const BlkRequestError& e = r.error();
    if (e.code == BlkRequestErrc::kNoStatus) {
      BLK_FUZZ_CHECK(e.status == nullptr && chain.writable_bytes == 0);
    } else {
      BLK_FUZZ_CHECK(e.status != nullptr && inside(bufs, e.status, 1, true, chain));
      const uint8_t s = status_for(e.code);
      BLK_FUZZ_CHECK(s == VIRTIO_BLK_S_IOERR || s == VIRTIO_BLK_S_UNSUPP);
    }
    return 0;
  }
  const BlkRequest& req = *r;
  BLK_FUZZ_CHECK(req.status != nullptr && inside(bufs, req.status, 1, true, chain));
  uint64_t total = 0;
  for (const iovec& v : req.data) {
    const bool writable = req.type != VIRTIO_BLK_T_OUT;
    BLK_FUZZ_CHECK(inside(bufs, v.iov_base, v.iov_len, writable, chain));
    // The status byte is never handed out as data.
    const auto* b = static_cast<const uint8_t*>(v.iov_base);
    BLK_FUZZ_CHECK(!(req.status >= b && req.status < b + v.iov_len));
    total += v.iov_len;
  }
  BLK_FUZZ_CHECK(total == req.data_len);
  switch (req.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
      BLK_FUZZ_CHECK(req.data_len % 512 == 0);
      BLK_FUZZ_CHECK(req.data.size() <= limits.seg_max);
      BLK_FUZZ_CHECK(req.sector <= limits.capacity_sectors &&
                     req.data_len / 512 <= limits.capacity_sectors - req.sector);
      BLK_FUZZ_CHECK(!(limits.read_only && req.type == VIRTIO_BLK_T_OUT));
      break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
      BLK_FUZZ_CHECK(!limits.read_only);
      BLK_FUZZ_CHECK(!req.ranges.empty() && req.ranges.size() <= 4);
      for (const BlkRange& range : req.ranges) {
        BLK_FUZZ_CHECK(range.offset % 512 == 0 && range.length % 512 == 0);
        BLK_FUZZ_CHECK(range.offset <= limits.capacity_sectors * 512 &&
                       range.length <= limits.capacity_sectors * 512 - range.offset);
        BLK_FUZZ_CHECK(!(range.unmap && !limits.write_zeroes_may_unmap));
      }
      break;
    case VIRTIO_BLK_T_GET_ID:
      BLK_FUZZ_CHECK(req.data_len >= 1 && req.data_len <= 20);
      break;
    case VIRTIO_BLK_T_FLUSH:
      break;
    default:
      BLK_FUZZ_CHECK(false && "an unknown type was accepted");
  }
  if (req.type == VIRTIO_BLK_T_FLUSH) return 0;  // fdatasync per input: too slow, no coverage
  const uint8_t status = image.backend->execute(req);
  BLK_FUZZ_CHECK(status == VIRTIO_BLK_S_OK);  // validated requests on a healthy image succeed
  struct stat st {};
  BLK_FUZZ_CHECK(::stat(image.path.c_str(), &st) == 0);
  BLK_FUZZ_CHECK(static_cast<uint64_t>(st.st_size) == kImageBytes);
  return 0;
}
