#include "storage/pools/pool_header.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"

namespace flotilla::storage::pools {
namespace {

constexpr char kMagic[8] = {'F', 'L', 'T', 'P', 'O', 'O', 'L', '\0'};
constexpr size_t kMaxDisks = 4096;
constexpr size_t kMaxExtents = 4096;

HeaderError corrupt(std::string m) {
  return HeaderError{HeaderError::Code::corrupt, std::move(m)};
}
HeaderError io(const std::string& what, int err) {
  return HeaderError{HeaderError::Code::io, what + ": " + std::strerror(err)};
}

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The checksum covers version, length and generation (head bytes 8..24) and the payload.
uint32_t slot_crc(const uint8_t* head, std::span<const uint8_t> payload) {
  return crc32(payload, crc32(std::span<const uint8_t>(head + 8, 16)));
}

nlohmann::json to_json(const PoolHeader& h) {
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : h.disks) {
    nlohmann::json ext = nlohmann::json::array();
    for (const auto& e : d.extents) ext.push_back({e.host_offset, e.length});
    disks.push_back({{"id", d.id},
                     {"name", d.name},
                     {"format", d.format},
                     {"size_bytes", d.size_bytes},
                     {"extents", ext}});
  }
  return {{"pool_id", h.pool_id},
          {"pool_name", h.pool_name},
          {"device_bytes", h.device_bytes},
          {"disks", disks}};
}

HeaderResult<PoolHeader> from_json(const nlohmann::json& j) {
  PoolHeader h;
  h.pool_id = j.at("pool_id").get<std::string>();
  h.pool_name = j.at("pool_name").get<std::string>();
  h.device_bytes = j.at("device_bytes").get<uint64_t>();
  const auto& disks = j.at("disks");
  if (!disks.is_array() || disks.size() > kMaxDisks) return fail(corrupt("bad disk table"));
  for (const auto& d : disks) {
    HeaderDisk disk;
    disk.id = d.at("id").get<std::string>();
    disk.name = d.at("name").get<std::string>();
    disk.format = d.at("format").get<std::string>();
    disk.size_bytes = d.at("size_bytes").get<uint64_t>();
    const auto& ext = d.at("extents");
    if (!ext.is_array() || ext.size() > kMaxExtents) return fail(corrupt("bad extent list"));
    uint64_t sum = 0;
    for (const auto& e : ext) {
      DiskExtent x{e.at(0).get<uint64_t>(), e.at(1).get<uint64_t>()};
      if (x.length == 0 || x.host_offset % 512 != 0 || x.length % 512 != 0 ||
          x.host_offset < kHeaderAreaBytes || x.host_offset > h.device_bytes ||
          x.length > h.device_bytes - x.host_offset) {
        return fail(corrupt("disk " + disk.id + " has an extent outside the device"));
      }
      sum += x.length;
      disk.extents.push_back(x);
    }
    if (sum != disk.size_bytes) return fail(corrupt("disk " + disk.id + " extents != its size"));
    h.disks.push_back(std::move(disk));
  }
  return h;
}

HeaderResult<UniqueFd> open_device(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) return fail(io("open " + path, errno));
  return fd;
}

HeaderResult<void> pwrite_all(int fd, const uint8_t* data, size_t n, uint64_t offset,
                              const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(io("write " + path, errno));
    }
    done += static_cast<size_t>(w);
  }
  return {};
}

// Reads one slot's bytes (short files read as zeroes).
HeaderResult<std::vector<uint8_t>> read_slot(int fd, int slot, const std::string& path) {
  std::vector<uint8_t> buf(kSlotBytes, 0);
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t r = ::pread(fd, buf.data() + done, buf.size() - done,
                              static_cast<off_t>(slot * kSlotBytes + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(io("read " + path, errno));
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return buf;
}

}  // namespace

uint32_t crc32(std::span<const uint8_t> data, uint32_t crc) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (uint8_t b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

HeaderResult<std::vector<uint8_t>> encode_slot(const PoolHeader& header) {
  const std::string payload = to_json(header).dump();
  if (payload.size() > kSlotBytes - kSlotHeadBytes) {
    return fail(HeaderError{HeaderError::Code::too_large,
                            "the pool's map (" + std::to_string(payload.size()) +
                                " bytes) does not fit its header slot"});
  }
  std::vector<uint8_t> out(kSlotHeadBytes + payload.size(), 0);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  put32(out.data() + 8, kHeaderVersion);
  put32(out.data() + 12, static_cast<uint32_t>(payload.size()));
  put64(out.data() + 16, header.generation);
  std::memcpy(out.data() + kSlotHeadBytes, payload.data(), payload.size());
  const auto body = std::span<const uint8_t>(out).subspan(kSlotHeadBytes);
  put32(out.data() + 24, slot_crc(out.data(), body));
  return out;
}

HeaderResult<PoolHeader> decode_slot(std::span<const uint8_t> slot) {
  if (slot.size() < kSlotHeadBytes) return fail(corrupt("slot too short"));
  if (std::memcmp(slot.data(), kMagic, sizeof kMagic) != 0) return fail(corrupt("no magic"));
  const uint32_t version = get32(slot.data() + 8);
  if (version != kHeaderVersion) {
    return fail(corrupt("header version " + std::to_string(version) + " is not " +
                        std::to_string(kHeaderVersion)));
  }
  const uint32_t length = get32(slot.data() + 12);
  if (length > kSlotBytes - kSlotHeadBytes || kSlotHeadBytes + length > slot.size()) {
    return fail(corrupt("payload length " + std::to_string(length) + " is out of range"));
  }
  const auto payload = slot.subspan(kSlotHeadBytes, length);
  if (slot_crc(slot.data(), payload) != get32(slot.data() + 24)) {
    return fail(corrupt("checksum mismatch"));
  }
  auto j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(corrupt("payload is not a JSON object"));
  try {
    auto h = from_json(j);
    if (!h) return h;
    h->generation = get64(slot.data() + 16);
    return h;
  } catch (const std::exception& e) {
    return fail(corrupt(std::string("payload: ") + e.what()));
  }
}

HeaderResult<PoolHeader> read_pool_header(const std::string& device_path) {
  auto fd = open_device(device_path, O_RDONLY);
  if (!fd) return fail(fd.error());
  std::optional<PoolHeader> best;
  std::string why;
  for (int slot = 0; slot < 2; ++slot) {
    auto bytes = read_slot(fd->get(), slot, device_path);
    if (!bytes) return fail(bytes.error());
    auto h = decode_slot(*bytes);
    if (!h) {
      why += (why.empty() ? "" : "; ") + std::string("slot ") + std::to_string(slot) + ": " +
             h.error().message;
      continue;
    }
    if (!best || h->generation > best->generation) best = std::move(*h);
  }
  if (!best) return fail(corrupt(device_path + " has no valid pool header (" + why + ")"));
  return std::move(*best);
}

HeaderResult<void> write_pool_header(const std::string& device_path, PoolHeader& header) {
  uint64_t newest = 0;
  if (auto current = read_pool_header(device_path); current) {
    newest = current->generation;
  } else if (current.error().code == HeaderError::Code::io) {
    return fail(current.error());
  }
  header.generation = newest + 1;
  auto bytes = encode_slot(header);
  if (!bytes) return fail(bytes.error());
  auto fd = open_device(device_path, O_RDWR);
  if (!fd) return fail(fd.error());
  const uint64_t offset = (header.generation % 2) * kSlotBytes;
  if (auto r = pwrite_all(fd->get(), bytes->data(), bytes->size(), offset, device_path); !r) {
    return r;
  }
  if (::fdatasync(fd->get()) != 0) return fail(io("fdatasync " + device_path, errno));
  return {};
}

HeaderResult<void> wipe_pool_header(const std::string& device_path) {
  auto fd = open_device(device_path, O_RDWR);
  if (!fd) return fail(fd.error());
  const std::vector<uint8_t> zeroes(kHeaderAreaBytes, 0);
  if (auto r = pwrite_all(fd->get(), zeroes.data(), zeroes.size(), 0, device_path); !r) return r;
  if (::fdatasync(fd->get()) != 0) return fail(io("fdatasync " + device_path, errno));
  return {};
}

}  // namespace flotilla::storage::pools
