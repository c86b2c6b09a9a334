// host_io: the host-side limit for bench/disk. The same I/O the probe guest's `blk bench` does
// (team/STORAGE.md), on a file opened with O_DIRECT, through io_uring (liburing) at the same
// queue depth: seq = 1 MiB requests at increasing offsets over the first MIB MiB, 4 in flight;
// rand = 4 KiB requests at pseudo-random 4 KiB-aligned offsets within the first MIB MiB (the
// probe's xorshift64 sequence, so the very same offsets), 32 in flight. Buffers are
// registered (fixed) and THP-backed, like a monitor's guest RAM.
//
//   host_io FILE seq|rand read|write MIB [DEPTH]
//   -> host pattern=seq op=read mib=256 ms=120 mib_per_s=2133.3 iops=2133 depth=4
#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace {

constexpr uint32_t kSeqBytes = 1u << 20;
constexpr uint32_t kRandBytes = 4096;
constexpr unsigned kSeqDepth = 4;
constexpr unsigned kRandDepth = 32;

// The buffers: one anonymous mapping, 2 MiB aligned and THP-backed where the kernel allows (a
// monitor's guest RAM is), registered with the ring so no request pins pages of its own.
struct Buffers {
  uint8_t* base = nullptr;
  size_t bytes = 0;
  void* map = MAP_FAILED;
  size_t map_bytes = 0;
  explicit Buffers(size_t n) : bytes(n) {
    constexpr size_t k2M = 2u << 20;
    map_bytes = n + k2M;
    map = ::mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return;
    base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(map) + k2M - 1) & ~(k2M - 1));
    ::madvise(base, n, MADV_HUGEPAGE);
    std::memset(base, 0x5a, n);
  }
  ~Buffers() {
    if (map != MAP_FAILED) ::munmap(map, map_bytes);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
};

struct Ring {
  io_uring ring{};
  bool ok = false;
  explicit Ring(unsigned entries) { ok = io_uring_queue_init(entries, &ring, 0) == 0; }
  ~Ring() {
    if (ok) io_uring_queue_exit(&ring);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
};

int usage() {
  std::fprintf(stderr, "usage: host_io FILE seq|rand read|write MIB [DEPTH]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) return usage();
  const std::string file = argv[1], pattern = argv[2], op = argv[3];
  if ((pattern != "seq" && pattern != "rand") || (op != "read" && op != "write")) return usage();
  const bool rand = pattern == "rand", write = op == "write";
  const uint64_t mib = std::strtoull(argv[4], nullptr, 10);
  unsigned depth = argc == 6 ? static_cast<unsigned>(std::strtoul(argv[5], nullptr, 10))
                             : (rand ? kRandDepth : kSeqDepth);
  if (mib == 0 || depth == 0 || depth > 1024) return usage();
  const uint32_t req = rand ? kRandBytes : kSeqBytes;
  const uint64_t total = mib << 20;
  const uint64_t requests = total / req;
  const uint64_t blocks = total / kRandBytes;

  flotilla::UniqueFd fd(::open(file.c_str(), (write ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC));
  if (!fd) {
    std::fprintf(stderr, "host_io: open %s: %s\n", file.c_str(), std::strerror(errno));
    return 1;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) < total) {
    std::fprintf(stderr, "host_io: %s is smaller than %llu MiB\n", file.c_str(),
                 static_cast<unsigned long long>(mib));
    return 1;
  }
  Buffers buffers(static_cast<size_t>(req) * depth);
  if (!buffers.base) return 1;
  Ring ring(depth);
  if (!ring.ok) {
    std::fprintf(stderr, "host_io: io_uring_queue_init failed\n");
    return 1;
  }
  std::vector<iovec> iov(depth);
  for (unsigned i = 0; i < depth; ++i) iov[i] = {buffers.base + static_cast<size_t>(i) * req, req};
  if (io_uring_register_buffers(&ring.ring, iov.data(), depth) != 0) {
    std::fprintf(stderr, "host_io: io_uring_register_buffers failed\n");
    return 1;
  }

  std::vector<unsigned> free_bufs;
  for (unsigned i = 0; i < depth; ++i) free_bufs.push_back(i);
  uint64_t x = 0x2545F4914F6CDD1Dull;  // the probe's xorshift64 state (guest/probe/shell/blk.c)
  uint64_t issued = 0, completed = 0, seq_next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (completed < requests) {
    unsigned queued = 0;
    while (issued < requests && !free_bufs.empty()) {
      const unsigned b = free_bufs.back();
      free_bufs.pop_back();
      uint64_t offset;
      if (rand) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        offset = (x % blocks) * kRandBytes;
      } else {
        offset = seq_next;
        seq_next += req;
      }
      io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
      uint8_t* buf = buffers.base + static_cast<size_t>(b) * req;
      if (write)
        io_uring_prep_write_fixed(sqe, fd.get(), buf, req, offset, static_cast<int>(b));
      else
        io_uring_prep_read_fixed(sqe, fd.get(), buf, req, offset, static_cast<int>(b));
      io_uring_sqe_set_data64(sqe, b);
      ++issued;
      ++queued;
    }
    if (queued && io_uring_submit(&ring.ring) < 0) return 1;
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe(&ring.ring, &cqe) != 0) return 1;
    do {
      if (cqe->res != static_cast<int>(req)) {
        std::fprintf(stderr, "host_io: request failed: %s\n",
                     cqe->res < 0 ? std::strerror(-cqe->res) : "short transfer");
        return 1;
      }
      free_bufs.push_back(static_cast<unsigned>(io_uring_cqe_get_data64(cqe)));
      ++completed;
      io_uring_cqe_seen(&ring.ring, cqe);
    } while (io_uring_peek_cqe(&ring.ring, &cqe) == 0);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("host pattern=%s op=%s mib=%llu ms=%llu mib_per_s=%.1f iops=%llu depth=%u\n",
              pattern.c_str(), op.c_str(), static_cast<unsigned long long>(mib),
              static_cast<unsigned long long>(s * 1000), static_cast<double>(mib) / s,
              static_cast<unsigned long long>(static_cast<double>(requests) / s), depth);
  return 0;
}
