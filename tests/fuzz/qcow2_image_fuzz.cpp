// libFuzzer target: the qcow2 metadata parser and request paths. Any bytes become an image file
// (in a private folder under /dev/shm, next to a small raw "base.raw" a fuzzed header may name
// as its backing file); it is opened read-only and read-write, a few sectors are read, written,
// discarded and zeroed, and flushed. Invariants: no crash, no out-of-bounds access (ASan), every
// failure is an ImageError value, and a read-only open reads the same bytes twice.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "storage/image/block_image.h"

namespace {

using namespace flotilla::storage;

const std::string& work_dir() {
  static const std::string dir = [] {
    std::string pattern = "/dev/shm/flotilla-qcow2-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    const std::string base = pattern + "/base.raw";
    const int fd = ::open(base.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::vector<unsigned char> bytes(64 * 1024);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 1);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      std::abort();
    }
    ::close(fd);
    // Leave nothing behind in /dev/shm (a plain buffer: it outlives the static strings).
    static char saved[64];
    std::snprintf(saved, sizeof saved, "%s", pattern.c_str());
    std::atexit([] {
      char path[96];
      std::snprintf(path, sizeof path, "%s/img.qcow2", saved);
      ::unlink(path);
      std::snprintf(path, sizeof path, "%s/base.raw", saved);
      ::unlink(path);
      ::rmdir(saved);
    });
    return pattern;
  }();
  return dir;
}

// Offsets worth touching: the start, the first clusters, the middle and the last sector.
std::vector<uint64_t> probe_offsets(uint64_t size) {
  std::vector<uint64_t> out;
  for (uint64_t at : {uint64_t{0}, uint64_t{512}, uint64_t{4096}, uint64_t{65536 - 512},
                      size / 2 / 512 * 512, size >= 512 ? size - 512 : 0}) {
    if (at + 512 <= size) out.push_back(at);
  }
  return out;
}

void exercise(const std::string& path, bool read_only) {
  auto image = open_image(OpenOptions{path, ImageFormat::kQcow2, read_only, false, {}});
  if (!image) {
    if (image.error().message.empty()) std::abort();  // every refusal says why
    return;
  }
  BlockImage& disk = **image;
  const uint64_t size = disk.size_bytes();
  std::vector<std::byte> a(1024);
  std::vector<std::byte> b(1024);
  for (uint64_t at : probe_offsets(size)) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(1024, size - at));
    auto first = disk.read(at, std::span(a.data(), len));
    if (read_only && first) {
      auto again = disk.read(at, std::span(b.data(), len));
      if (!again || std::memcmp(a.data(), b.data(), len) != 0) std::abort();
    }
    if (!read_only) {
      (void)disk.write(at, std::span<const std::byte>(a.data(), 512));
      (void)disk.read(at, std::span(b.data(), 512));
    }
  }
  std::vector<std::byte> past(512);
  if (disk.read(size, past)) std::abort();  // past the end is always refused
  if (!read_only) {
    (void)disk.write_zeroes(0, std::min<uint64_t>(size, 70000), true);
    (void)disk.discard(size / 4 / 512 * 512, std::min<uint64_t>(size / 4, 131072) / 512 * 512);
    (void)disk.flush();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = work_dir() + "/img.qcow2";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  ::close(fd);
  exercise(path, true);
  exercise(path, false);
  exercise(path, true);  // what the read-write pass left behind must still parse safely
  return 0;
}
