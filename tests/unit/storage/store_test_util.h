// Helpers for the state store tests: a temporary folder, a sample spec, file snapshots.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>

#include "storage/state_store.h"

namespace flotilla::storage::test {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/flotilla-store-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A MAC per VM name: MACs are unique across the store (schema 6).
inline std::string sample_mac(const std::string& name) {
  const size_t h = std::hash<std::string>{}(name);
  char buf[18];
  std::snprintf(buf, sizeof buf, "52:54:00:%02x:%02x:%02x", static_cast<unsigned>(h & 0xff),
                static_cast<unsigned>((h >> 8) & 0xff), static_cast<unsigned>((h >> 16) & 0xff));
  return buf;
}

inline VmSpec sample_spec(const std::string& name) {
  VmSpec spec;
  spec.name = name;
  spec.vcpus = 2;
  spec.memory_mib = 256;
  spec.boot = {"/boot/vmlinux", "/boot/initrd.img", "console=ttyS0"};
  spec.disks = {{"/pool/root.raw", false}, {"/pool/data.raw", true}};
  spec.nics = {{"default", sample_mac(name)}};
  spec.cpu = {CpuMode::timeshare, 200, 50, 0};
  spec.memory.mode = MemoryMode::reserved;
  spec.restart = RestartPolicy::on_crash;
  return spec;
}

inline std::unique_ptr<StateStore> open_store(const std::string& path,
                                              const std::string& host = "host-a") {
  auto store = StateStore::open(StoreOptions{path, 5000, host});
  if (!store) {
    ADD_FAILURE() << "open " << path << ": " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace flotilla::storage::test
