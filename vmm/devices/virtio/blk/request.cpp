// parse_blk_request: splits a chain into header, data and status, and checks it against the
// device's limits. Never reads outside the chain's (already translated) buffers.
#include "vmm/devices/virtio/blk/request.h"

#include <algorithm>
#include <cstring>

namespace flotilla::vmm::virtio {
namespace {

// The non-empty buffers of one direction, in order.
struct Pieces {
  std::vector<iovec> iov;
  uint64_t total = 0;
};

Pieces collect(const DescriptorChain& chain, bool writable) {
  Pieces p;
  for (const Descriptor& d : chain.descriptors) {
    if (d.device_writable != writable || d.len == 0) continue;
    p.iov.push_back(iovec{d.host, d.len});
    p.total += d.len;
  }
  return p;
}

// Copies len bytes starting at byte `skip` of the pieces into out (the caller checked the total).
void gather(const std::vector<iovec>& iov, uint64_t skip, void* out, size_t len) {
  auto* dst = static_cast<uint8_t*>(out);
  for (const iovec& v : iov) {
    if (len == 0) return;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    const size_t take = std::min<size_t>(v.iov_len - skip, len);
    // SAFETY: v covers iov_len bytes of guest RAM (translated by Queue::pop).
    std::memcpy(dst, static_cast<const uint8_t*>(v.iov_base) + skip, take);
    dst += take;
    len -= take;
    skip = 0;
  }
}

// The iovecs covering bytes [skip, skip + len) of iov.
std::vector<iovec> slice(const std::vector<iovec>& iov, uint64_t skip, uint64_t len) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (len == 0) break;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    const uint64_t take = std::min<uint64_t>(v.iov_len - skip, len);
    out.push_back(iovec{static_cast<uint8_t*>(v.iov_base) + skip, take});
    len -= take;
    skip = 0;
  }
  return out;
}

bool range_ok(uint64_t sector, uint64_t sectors, uint64_t capacity) {
  return sector <= capacity && sectors <= capacity - sector;
}

Unexpected<BlkRequestError> refuse(BlkRequestErrc code, uint8_t* status) {
  return fail(BlkRequestError{code, status});
}

Result<void, BlkRequestErrc> parse_ranges(const Pieces& readable, const BlkLimits& limits,
                                          BlkRequest& r) {
  const bool discard = r.type == VIRTIO_BLK_T_DISCARD;
  if (discard ? !limits.discard : !limits.write_zeroes) {
    return fail(BlkRequestErrc::kNotNegotiated);
  }
  if (limits.read_only) return fail(BlkRequestErrc::kReadOnly);
  const uint64_t bytes = readable.total - kBlkHeaderSize;
  if (bytes % kBlkSegmentSize != 0) return fail(BlkRequestErrc::kBadLength);
  const uint64_t count = bytes / kBlkSegmentSize;
  const uint32_t max_seg = discard ? limits.max_discard_seg : limits.max_write_zeroes_seg;
  const uint32_t max_sectors =
      discard ? limits.max_discard_sectors : limits.max_write_zeroes_sectors;
  if (count == 0 || count > max_seg) return fail(BlkRequestErrc::kBadSegmentCount);
  r.ranges.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    virtio_blk_discard_write_zeroes seg{};
    gather(readable.iov, kBlkHeaderSize + i * kBlkSegmentSize, &seg, sizeof(seg));
    const uint32_t flags = seg.flags;
    if ((flags & ~uint32_t{VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}) != 0 || (discard && flags != 0)) {
      return fail(BlkRequestErrc::kBadSegmentFlags);
    }
    if (seg.num_sectors > max_sectors) return fail(BlkRequestErrc::kSegmentTooLarge);
    if (!range_ok(seg.sector, seg.num_sectors, limits.capacity_sectors)) {
      return fail(BlkRequestErrc::kOutOfRange);
    }
    const bool unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
    r.ranges.push_back(BlkRange{seg.sector * kBlkSectorSize, uint64_t{seg.num_sectors} * 512,
                                unmap && limits.write_zeroes_may_unmap});
  }
  return {};
}

}  // namespace

const char* describe(BlkRequestErrc code) {
  switch (code) {
    case BlkRequestErrc::kNoStatus:
      return "no device-writable status byte";
    case BlkRequestErrc::kHeaderTooShort:
      return "request header shorter than 16 bytes";
    case BlkRequestErrc::kUnsupportedType:
      return "unsupported request type";
    case BlkRequestErrc::kBadLength:
      return "data length not a multiple of the sector (or segment) size";
    case BlkRequestErrc::kOutOfRange:
      return "sector range past the end of the disk";
    case BlkRequestErrc::kTooManySegments:
      return "more data segments than seg_max";
    case BlkRequestErrc::kReadOnly:
      return "write to a read-only disk";
    case BlkRequestErrc::kNotNegotiated:
      return "discard/write-zeroes without the feature";
    case BlkRequestErrc::kBadSegmentCount:
      return "discard/write-zeroes segment count out of range";
    case BlkRequestErrc::kSegmentTooLarge:
      return "discard/write-zeroes segment larger than the maximum";
    case BlkRequestErrc::kBadSegmentFlags:
      return "discard/write-zeroes segment with unsupported flags";
  }
  return "unknown blk request error";
}

uint8_t status_for(BlkRequestErrc code) {
  switch (code) {
    case BlkRequestErrc::kUnsupportedType:
    case BlkRequestErrc::kNotNegotiated:
    case BlkRequestErrc::kBadSegmentCount:
    case BlkRequestErrc::kBadSegmentFlags:
      return VIRTIO_BLK_S_UNSUPP;
    default:
      return VIRTIO_BLK_S_IOERR;
  }
}

Result<BlkRequest, BlkRequestError> parse_blk_request(const DescriptorChain& chain,
                                                      const BlkLimits& limits) {
  const Pieces readable = collect(chain, false);
  const Pieces writable = collect(chain, true);
  if (writable.total == 0) return refuse(BlkRequestErrc::kNoStatus, nullptr);
  const iovec& last = writable.iov.back();
  // SAFETY: last covers iov_len >= 1 bytes of guest RAM.
  uint8_t* status = static_cast<uint8_t*>(last.iov_base) + last.iov_len - 1;
  if (readable.total < kBlkHeaderSize) return refuse(BlkRequestErrc::kHeaderTooShort, status);

  virtio_blk_outhdr header{};
  gather(readable.iov, 0, &header, sizeof(header));
  BlkRequest r;
  r.head = chain.head;
  r.type = header.type;
  r.sector = header.sector;
  r.status = status;
  const uint64_t in_bytes = writable.total - 1;  // writable bytes before the status byte
  switch (r.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
      const bool out = r.type == VIRTIO_BLK_T_OUT;
      if (out && limits.read_only) return refuse(BlkRequestErrc::kReadOnly, status);
      // Bytes in the other direction are ignored (as QEMU does).
      r.data = out ? slice(readable.iov, kBlkHeaderSize, readable.total - kBlkHeaderSize)
                   : slice(writable.iov, 0, in_bytes);
      r.data_len = out ? readable.total - kBlkHeaderSize : in_bytes;
      if (r.data_len % kBlkSectorSize != 0) return refuse(BlkRequestErrc::kBadLength, status);
      if (r.data.size() > limits.seg_max) return refuse(BlkRequestErrc::kTooManySegments, status);
      if (!range_ok(r.sector, r.data_len / kBlkSectorSize, limits.capacity_sectors)) {
        return refuse(BlkRequestErrc::kOutOfRange, status);
      }
      return r;
    }
    case VIRTIO_BLK_T_FLUSH:
      return r;  // any data is ignored
    case VIRTIO_BLK_T_GET_ID:
      if (in_bytes == 0) return refuse(BlkRequestErrc::kBadLength, status);
      r.data_len = std::min<uint64_t>(in_bytes, VIRTIO_BLK_ID_BYTES);
      r.data = slice(writable.iov, 0, r.data_len);
      return r;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
      if (auto ok = parse_ranges(readable, limits, r); !ok) return refuse(ok.error(), status);
      return r;
    default:
      return refuse(BlkRequestErrc::kUnsupportedType, status);
  }
}

}  // namespace flotilla::vmm::virtio
