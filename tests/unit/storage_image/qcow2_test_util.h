// Helpers for the qcow2 tests: temp folders, running qemu-img (the independent check), and
// deterministic buffers.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "storage/image/block_image.h"
#include "storage/image/image_tools.h"

namespace flotilla::storage::testing {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command, capturing stdout+stderr.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  size_t n = 0;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0)
    result.output.append(chunk.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string quote(const std::string& s) {
  return "'" + s + "'";
}

// qemu-img check: 0 = clean, 3 = leaked clusters only, 2 = corruption, 1 = could not check.
inline CommandResult qemu_check(const std::string& path) {
  return run_command("qemu-img check -f qcow2 " + quote(path));
}

// qemu-img compare of two images' guest contents (exit 0 = identical).
inline CommandResult qemu_compare(const std::string& a, const std::string& a_format,
                                  const std::string& b, const std::string& b_format) {
  return run_command("qemu-img compare -f " + a_format + " -F " + b_format + " " + quote(a) + " " +
                     quote(b));
}

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string pattern = (fs::temp_directory_path() / ("flotilla-" + tag + "-XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Bytes that differ per offset and seed (never all zero for a 512-byte sector).
inline std::vector<std::byte> pattern(uint64_t offset, size_t length, uint64_t seed) {
  std::vector<std::byte> out(length);
  for (size_t i = 0; i < length; ++i) {
    uint64_t x = (offset + i) / 8 * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    out[i] = static_cast<std::byte>((x >> (8 * ((offset + i) % 8))) | 1);
  }
  return out;
}

inline std::vector<std::byte> read_all(BlockImage& image) {
  std::vector<std::byte> out(image.size_bytes());
  auto r = image.read(0, out);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return out;
}

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

inline std::unique_ptr<BlockImage> open_or_die(const std::string& path, ImageFormat format,
                                               bool read_only) {
  auto image = open_image(OpenOptions{path, format, read_only, false, {}});
  EXPECT_TRUE(image.ok()) << (image ? "" : image.error().message);
  if (!image) return nullptr;
  return std::move(image).value();
}

inline void create_or_die(const std::string& path, ImageFormat format, uint64_t size,
                          uint32_t cluster_bits = 16, const std::string& backing = "") {
  CreateOptions options;
  options.path = path;
  options.format = format;
  options.size_bytes = size;
  options.cluster_bits = cluster_bits;
  options.backing_path = backing;
  auto r = create_image(options);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

// Overwrites bytes of a file in place (for hostile-image tests).
inline void patch_file(const std::string& path, uint64_t offset,
                       const std::vector<uint8_t>& bytes) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> be64(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
  return out;
}
inline std::vector<uint8_t> be32(uint32_t v) {
  std::vector<uint8_t> out(4);
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
  return out;
}
inline uint64_t read_be64(const std::string& path, uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  uint8_t b[8] = {};
  in.read(reinterpret_cast<char*>(b), 8);
  uint64_t v = 0;
  for (uint8_t x : b) v = (v << 8) | x;
  return v;
}

}  // namespace flotilla::storage::testing
