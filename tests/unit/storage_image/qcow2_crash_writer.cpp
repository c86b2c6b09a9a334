// Test helper for storage_qcow2_crash_test: writes tagged 4 KiB blocks into a qcow2 image in a
// loop, flushing every 8 writes and printing "flushed <last write index>" after each flush, until
// it is killed. Usage: qcow2_crash_writer IMAGE FIRST_INDEX SLOTS
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "qcow2_crash_layout.h"
#include "storage/image/block_image.h"

using namespace flotilla::storage;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s IMAGE FIRST_INDEX SLOTS\n", argv[0]);
    return 2;
  }
  const uint64_t first = std::strtoull(argv[2], nullptr, 10);
  const uint64_t slots = std::strtoull(argv[3], nullptr, 10);
  auto image = open_image(OpenOptions{argv[1], ImageFormat::kQcow2, false, false, {}});
  if (!image) {
    std::fprintf(stderr, "open: %s\n", image.error().message.c_str());
    return 1;
  }
  std::vector<std::byte> block(crash::kBlock);
  for (uint64_t i = first;; ++i) {
    crash::fill_block(i, block);
    if (auto r = (*image)->write(crash::slot_of(i, slots) * crash::kBlock, block); !r) {
      std::fprintf(stderr, "write %llu: %s\n", static_cast<unsigned long long>(i),
                   r.error().message.c_str());
      return 1;
    }
    if (i % 8 == 7) {
      if (auto r = (*image)->flush(); !r) {
        std::fprintf(stderr, "flush: %s\n", r.error().message.c_str());
        return 1;
      }
      std::printf("flushed %llu\n", static_cast<unsigned long long>(i));
      std::fflush(stdout);
    }
  }
}
