// The qcow2 on-disk format (QEMU docs/interop/qcow2.txt): constants, big-endian helpers, and the
// header parser that validates every field against the file before anything else trusts it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "storage/image/block_image.h"
#include "storage/image/iov.h"

namespace flotilla::storage::qcow2 {

constexpr uint32_t kMagic = 0x514649fb;                  // "QFI\xfb"
constexpr uint32_t kMinClusterBits = 9;                  // 512 B
constexpr uint32_t kMaxClusterBits = 21;                 // 2 MiB
constexpr uint64_t kMaxL1Bytes = 32ull << 20;            // QEMU's QCOW_MAX_L1_SIZE
constexpr uint64_t kMaxRefcountTableBytes = 8ull << 20;  // QEMU's QCOW_MAX_REFTABLE_SIZE
constexpr uint32_t kMaxBackingNameBytes = 1023;
constexpr int kMaxBackingDepth = 16;      // backing files below the top image
constexpr uint32_t kV3HeaderBytes = 112;  // what we write (with the compression type byte)

// L1/L2 entry bits.
constexpr uint64_t kOflagCopied = 1ull << 63;
constexpr uint64_t kOflagCompressed = 1ull << 62;
constexpr uint64_t kOflagZero = 1ull;
constexpr uint64_t kOffsetMask = 0x00fffffffffffe00ull;  // bits 9..55
constexpr uint64_t kRefTableOffsetMask = 0xfffffffffffffe00ull;

// Feature bits.
constexpr uint64_t kIncompatDirty = 1ull << 0;
constexpr uint64_t kIncompatCorrupt = 1ull << 1;
constexpr uint64_t kIncompatDataFile = 1ull << 2;
constexpr uint64_t kIncompatCompressionType = 1ull << 3;
constexpr uint64_t kIncompatExtendedL2 = 1ull << 4;
constexpr uint64_t kIncompatKnown = (1ull << 5) - 1;
constexpr uint64_t kCompatLazyRefcounts = 1ull << 0;

// Header extension types.
constexpr uint32_t kExtEnd = 0;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kExtFeatureTable = 0x6803f857;
constexpr uint32_t kExtCrypto = 0x0537be77;
constexpr uint32_t kExtDataFile = 0x44415441;

// Header field offsets we rewrite in place.
constexpr uint64_t kOffSize = 24;          // size (8) ... l1_size (4 @36), l1_table_offset (8 @40)
constexpr uint64_t kOffRefTable = 48;      // refcount_table_offset (8), clusters (4 @56)
constexpr uint64_t kOffIncompatible = 72;  // v3 only
constexpr uint64_t kOffAutoclear = 88;     // v3 only

inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

struct Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible = 0;
  uint64_t compatible = 0;
  uint64_t autoclear = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = 72;
  uint8_t compression_type = 0;
  // From the first cluster:
  std::string backing_file;    // as written ("" = none)
  std::string backing_format;  // the backing-format extension ("" = not given)

  uint64_t cluster_size() const { return 1ull << cluster_bits; }
  uint32_t l2_bits() const { return cluster_bits - 3; }
  // Guest bytes one L1 entry covers.
  uint64_t l1_span() const { return 1ull << (cluster_bits + l2_bits()); }
};

// L1 entries needed for a virtual size.
uint64_t l1_entries_for(uint64_t size, uint32_t cluster_bits);

// Reads and validates the header and its extensions from fd (file_size bytes long). Every
// offset and size is checked against the file and QEMU's limits: kCorrupt for inconsistent or
// hostile values, kUnsupported for valid features we do not implement (encryption, external data
// file, extended L2, zstd, unknown incompatible bits — named from the feature table if present).
ImageResult<Header> read_header(int fd, const std::string& path, uint64_t file_size);

// Serialises a fresh v3 header (+ backing-format extension + backing name) into a cluster-sized
// buffer; kInvalidArgument when the backing name does not fit.
ImageResult<std::vector<uint8_t>> build_header_cluster(const Header& header,
                                                       const std::string& path);

ImageError corrupt(const std::string& path, const std::string& what);
ImageError sys_error(const std::string& path, const char* what, int err);

// pread/pwrite the whole buffer (EINTR and short transfers retried; a read past the end of the
// file zero-fills). Returns 0 or an errno.
int pread_full(int fd, void* buffer, size_t length, uint64_t offset);
int pwrite_full(int fd, const void* buffer, size_t length, uint64_t offset);
int datasync(int fd);

}  // namespace flotilla::storage::qcow2
