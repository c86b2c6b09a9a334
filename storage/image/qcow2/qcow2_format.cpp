#include "storage/image/qcow2/qcow2_format.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "storage/image/iov.h"

namespace flotilla::storage::qcow2 {

ImageError corrupt(const std::string& path, const std::string& what) {
  return ImageError{ImageErrc::kCorrupt, path + ": corrupt qcow2 image: " + what, 0};
}

ImageError sys_error(const std::string& path, const char* what, int err) {
  const ImageErrc code = err == ENOSPC || err == EDQUOT ? ImageErrc::kNoSpace
                         : err == ENOENT                ? ImageErrc::kNotFound
                                                        : ImageErrc::kIo;
  return ImageError{code, path + ": " + what + ": " + std::strerror(err), err};
}

namespace {

ImageError unsupported(const std::string& path, const std::string& what) {
  return ImageError{ImageErrc::kUnsupported, path + ": unsupported qcow2 feature: " + what, 0};
}

bool ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len) {
  return a < b + b_len && b < a + a_len;
}

// Names of the incompatible bits set in `bits`, from the feature-name table when present.
std::string feature_names(uint64_t bits, const std::vector<std::pair<int, std::string>>& table) {
  std::string out;
  for (int bit = 0; bit < 64; ++bit) {
    if ((bits & (1ull << bit)) == 0) continue;
    std::string name = "bit " + std::to_string(bit);
    for (const auto& [b, n] : table) {
      if (b == bit) name = n + " (bit " + std::to_string(bit) + ")";
    }
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

ImageResult<void> parse_extensions(const std::vector<uint8_t>& cluster, uint64_t start,
                                   uint64_t end, Header& h, const std::string& path) {
  std::vector<std::pair<int, std::string>> features;
  uint64_t at = start;
  while (at + 8 <= end) {
    const uint32_t type = load_be32(&cluster[at]);
    const uint32_t length = load_be32(&cluster[at + 4]);
    if (type == kExtEnd) break;
    const uint64_t data = at + 8;
    if (length > end - data) return fail(corrupt(path, "header extension runs past its cluster"));
    if (type == kExtBackingFormat) {
      h.backing_format.assign(reinterpret_cast<const char*>(&cluster[data]), length);
    } else if (type == kExtFeatureTable) {
      for (uint64_t e = 0; e + 48 <= length; e += 48) {
        const uint8_t* p = &cluster[data + e];
        if (p[0] != 0) continue;  // only incompatible features matter for the message
        const char* name = reinterpret_cast<const char*>(p + 2);
        features.emplace_back(p[1], std::string(name, strnlen(name, 46)));
      }
    } else if (type == kExtCrypto) {
      return fail(unsupported(path, "encryption"));
    } else if (type == kExtDataFile) {
      return fail(unsupported(path, "external data file"));
    }
    at = data + ((uint64_t{length} + 7) & ~uint64_t{7});
  }
  const uint64_t unknown = h.incompatible & ~kIncompatKnown;
  if (unknown != 0) {
    return fail(
        unsupported(path, "unknown incompatible features: " + feature_names(unknown, features)));
  }
  return {};
}

ImageResult<void> check_tables(const Header& h, const std::string& path, uint64_t file_size) {
  const uint64_t cs = h.cluster_size();
  if (h.l1_size > kMaxL1Bytes / 8) return fail(corrupt(path, "L1 table too large"));
  if (h.l1_size < l1_entries_for(h.size, h.cluster_bits)) {
    return fail(corrupt(path, "L1 table too small for the virtual size"));
  }
  const uint64_t l1_bytes = uint64_t{h.l1_size} * 8;
  if (h.l1_size > 0) {
    if (h.l1_table_offset % cs != 0) return fail(corrupt(path, "L1 table offset not aligned"));
    if (h.l1_table_offset > file_size || l1_bytes > file_size - h.l1_table_offset) {
      return fail(corrupt(path, "L1 table past the end of the file"));
    }
    if (h.l1_table_offset < cs) return fail(corrupt(path, "L1 table overlaps the header"));
  }
  if (h.refcount_table_clusters == 0) return fail(corrupt(path, "no refcount table"));
  if (h.refcount_table_clusters > kMaxRefcountTableBytes / cs) {
    return fail(corrupt(path, "refcount table too large"));
  }
  const uint64_t rt_bytes = uint64_t{h.refcount_table_clusters} * cs;
  if (h.refcount_table_offset % cs != 0) {
    return fail(corrupt(path, "refcount table offset not aligned"));
  }
  if (h.refcount_table_offset < cs) return fail(corrupt(path, "refcount table overlaps header"));
  if (h.refcount_table_offset > file_size || rt_bytes > file_size - h.refcount_table_offset) {
    return fail(corrupt(path, "refcount table past the end of the file"));
  }
  if (h.l1_size > 0 &&
      ranges_overlap(h.l1_table_offset, l1_bytes, h.refcount_table_offset, rt_bytes)) {
    return fail(corrupt(path, "L1 table and refcount table overlap"));
  }
  return {};
}

}  // namespace

uint64_t l1_entries_for(uint64_t size, uint32_t cluster_bits) {
  const uint32_t shift = cluster_bits + cluster_bits - 3;
  return (size >> shift) + ((size & ((1ull << shift) - 1)) != 0 ? 1 : 0);
}

ImageResult<Header> read_header(int fd, const std::string& path, uint64_t file_size) {
  uint8_t raw[kV3HeaderBytes] = {};
  if (file_size < 72) return fail(corrupt(path, "file shorter than a qcow2 header"));
  if (int err = pread_full(fd, raw, sizeof raw, 0); err != 0) {
    return fail(sys_error(path, "read header", err));
  }
  if (load_be32(raw) != kMagic) return fail(corrupt(path, "bad magic"));
  Header h;
  h.version = load_be32(raw + 4);
  if (h.version != 2 && h.version != 3) {
    return fail(ImageError{ImageErrc::kUnsupported,
                           path + ": qcow2 version " + std::to_string(h.version), 0});
  }
  h.backing_file_offset = load_be64(raw + 8);
  h.backing_file_size = load_be32(raw + 16);
  h.cluster_bits = load_be32(raw + 20);
  h.size = load_be64(raw + 24);
  h.crypt_method = load_be32(raw + 32);
  h.l1_size = load_be32(raw + 36);
  h.l1_table_offset = load_be64(raw + 40);
  h.refcount_table_offset = load_be64(raw + 48);
  h.refcount_table_clusters = load_be32(raw + 56);
  h.nb_snapshots = load_be32(raw + 60);
  h.snapshots_offset = load_be64(raw + 64);
  if (h.version == 3) {
    if (file_size < 104) return fail(corrupt(path, "file shorter than a v3 header"));
    h.incompatible = load_be64(raw + 72);
    h.compatible = load_be64(raw + 80);
    h.autoclear = load_be64(raw + 88);
    h.refcount_order = load_be32(raw + 96);
    h.header_length = load_be32(raw + 100);
    if (h.header_length < 104) return fail(corrupt(path, "v3 header length below 104"));
    if (h.header_length > 104) h.compression_type = raw[104];
  }
  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits) {
    return fail(corrupt(path, "cluster_bits " + std::to_string(h.cluster_bits) + " not in 9..21"));
  }
  const uint64_t cs = h.cluster_size();
  if (h.header_length > cs) return fail(corrupt(path, "header longer than a cluster"));
  if (h.refcount_order > 6) return fail(corrupt(path, "refcount_order above 6"));
  if (h.crypt_method != 0) return fail(unsupported(path, "encryption"));
  if (h.incompatible & kIncompatDataFile) return fail(unsupported(path, "external data file"));
  if (h.incompatible & kIncompatExtendedL2) return fail(unsupported(path, "extended L2 entries"));
  if ((h.incompatible & kIncompatCompressionType) && h.compression_type != 0) {
    return fail(unsupported(
        path, "compression type " + std::to_string(h.compression_type) + " (only zlib)"));
  }
  if (h.nb_snapshots > 65536) return fail(corrupt(path, "too many snapshots"));
  if (auto r = check_tables(h, path, file_size); !r) return fail(r.error());

  // The rest of the first cluster: extensions and the backing file name.
  std::vector<uint8_t> cluster(cs, 0);
  if (int err = pread_full(fd, cluster.data(), cs, 0); err != 0) {
    return fail(sys_error(path, "read header cluster", err));
  }
  uint64_t ext_end = cs;
  if (h.backing_file_offset != 0) {
    if (h.backing_file_size == 0 || h.backing_file_size > kMaxBackingNameBytes) {
      return fail(corrupt(path, "backing file name length out of range"));
    }
    if (h.backing_file_offset > cs || h.backing_file_size > cs - h.backing_file_offset) {
      return fail(corrupt(path, "backing file name outside the first cluster"));
    }
    if (h.backing_file_offset < (h.version == 3 ? h.header_length : 72)) {
      return fail(corrupt(path, "backing file name overlaps the header"));
    }
    h.backing_file.assign(reinterpret_cast<const char*>(&cluster[h.backing_file_offset]),
                          h.backing_file_size);
    ext_end = h.backing_file_offset;
  }
  if (h.version == 3) {
    if (auto r = parse_extensions(cluster, h.header_length, ext_end, h, path); !r) {
      return fail(r.error());
    }
  }
  return h;
}

ImageResult<std::vector<uint8_t>> build_header_cluster(const Header& h, const std::string& path) {
  const uint64_t cs = h.cluster_size();
  std::vector<uint8_t> c(cs, 0);
  uint8_t* p = c.data();
  store_be32(p, kMagic);
  store_be32(p + 4, 3);
  store_be32(p + 20, h.cluster_bits);
  store_be64(p + 24, h.size);
  store_be32(p + 36, h.l1_size);
  store_be64(p + 40, h.l1_table_offset);
  store_be64(p + 48, h.refcount_table_offset);
  store_be32(p + 56, h.refcount_table_clusters);
  store_be64(p + 80, h.compatible);
  store_be32(p + 96, h.refcount_order);
  store_be32(p + 100, kV3HeaderBytes);
  uint64_t at = kV3HeaderBytes;
  auto need = [&](uint64_t bytes) { return at + bytes <= cs; };
  if (!h.backing_format.empty()) {
    const uint64_t padded = (h.backing_format.size() + 7) & ~uint64_t{7};
    if (!need(8 + padded)) {
      return fail(ImageError{ImageErrc::kInvalidArgument, path + ": header does not fit", 0});
    }
    store_be32(p + at, kExtBackingFormat);
    store_be32(p + at + 4, static_cast<uint32_t>(h.backing_format.size()));
    std::memcpy(p + at + 8, h.backing_format.data(), h.backing_format.size());
    at += 8 + padded;
  }
  at += 8;  // end-of-extensions marker (zeroes)
  if (!h.backing_file.empty()) {
    if (h.backing_file.size() > kMaxBackingNameBytes || !need(h.backing_file.size())) {
      return fail(ImageError{ImageErrc::kInvalidArgument,
                             path + ": backing file name too long for the cluster size", 0});
    }
    store_be64(p + 8, at);
    store_be32(p + 16, static_cast<uint32_t>(h.backing_file.size()));
    std::memcpy(p + at, h.backing_file.data(), h.backing_file.size());
  }
  return c;
}

int pread_full(int fd, void* buffer, size_t length, uint64_t offset) {
  iovec v{buffer, length};
  return transfer_full(fd, offset, std::span<const iovec>(&v, 1), false);
}

int pwrite_full(int fd, const void* buffer, size_t length, uint64_t offset) {
  iovec v{const_cast<void*>(buffer), length};
  return transfer_full(fd, offset, std::span<const iovec>(&v, 1), true);
}

int datasync(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

}  // namespace flotilla::storage::qcow2
