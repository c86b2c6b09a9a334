// qcow2_host: the storage/image code alone on the host (no guest, no virtio), raw and qcow2 side
// by side on the same file system, beside `qemu-img bench` (QEMU's own block layer) on the same
// qcow2 file. Shows what the image format costs before the device and the guest add theirs.
//
//   qcow2_host [--dir DIR] [--mib N] [--threads T] [--direct]
//
// Rows: random 4 KiB writes on the fresh image (allocating, copy-on-write of the rest of each
// cluster), seq 1 MiB write (allocating what is left), seq 1 MiB overwrite, seq 1 MiB read,
// random 4 KiB read and write (T threads, each its own stream of requests, like the device's
// worker pool). Figures in MiB/s and IOPS.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/image/block_image.h"
#include "storage/image/image_tools.h"

namespace {

using namespace flotilla::storage;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string dir = "/var/tmp";
  uint64_t mib = 256;
  int threads = 4;
  bool direct = false;
};

void die(const std::string& what) {
  std::fprintf(stderr, "qcow2_host: %s\n", what.c_str());
  std::exit(1);
}

std::byte* aligned_buffer(size_t bytes) {
  void* p = nullptr;
  if (::posix_memalign(&p, 4096, bytes) != 0) die("posix_memalign");
  std::memset(p, 0x5a, bytes);
  return static_cast<std::byte*>(p);
}

void row(const char* format, const char* name, double seconds, uint64_t bytes, uint64_t ops) {
  std::printf("%-6s %-26s %9.1f MiB/s %9.0f IOPS\n", format, name,
              static_cast<double>(bytes) / (1 << 20) / seconds, static_cast<double>(ops) / seconds);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void sequential(BlockImage& image, const char* format, const char* name, bool write,
                uint64_t bytes) {
  constexpr size_t kChunk = 1 << 20;
  std::byte* buffer = aligned_buffer(kChunk);
  const auto start = Clock::now();
  for (uint64_t at = 0; at < bytes; at += kChunk) {
    auto r = write ? image.write(at, std::span<const std::byte>(buffer, kChunk))
                   : image.read(at, std::span<std::byte>(buffer, kChunk));
    if (!r) die(r.error().message);
  }
  if (write) {
    if (auto r = image.flush(); !r) die(r.error().message);
  }
  row(format, name, seconds_since(start), bytes, bytes / kChunk);
  std::free(buffer);
}

void random4k(BlockImage& image, const char* format, const char* name, bool write, uint64_t bytes,
              int threads) {
  const uint64_t ops_per_thread = std::min<uint64_t>(bytes / 4096 / threads, 50000);
  std::vector<std::thread> workers;
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::byte* buffer = aligned_buffer(4096);
      std::mt19937_64 rng(t + 1);
      for (uint64_t i = 0; i < ops_per_thread; ++i) {
        const uint64_t at = (rng() % (bytes / 4096)) * 4096;
        auto r = write ? image.write(at, std::span<const std::byte>(buffer, 4096))
                       : image.read(at, std::span<std::byte>(buffer, 4096));
        if (!r) failed = true;
      }
      std::free(buffer);
    });
  }
  for (auto& w : workers) w.join();
  if (failed) die("a random request failed");
  const uint64_t ops = ops_per_thread * threads;
  row(format, name, seconds_since(start), ops * 4096, ops);
}

void run_format(const Options& o, ImageFormat format) {
  const char* name = to_string(format);
  const std::string path = o.dir + "/qcow2_host-bench." + name;
  ::unlink(path.c_str());
  CreateOptions create;
  create.path = path;
  create.format = format;
  create.size_bytes = o.mib << 20;
  if (auto r = create_image(create); !r) die(r.error().message);
  auto image = open_image(OpenOptions{path, format, false, o.direct, {}});
  if (!image) die(image.error().message);
  const uint64_t bytes = o.mib << 20;
  const std::string threads = std::to_string(o.threads);
  random4k(**image, name, ("rand 4K write x" + threads + " (fresh)").c_str(), true, bytes,
           o.threads);
  sequential(**image, name, "seq 1M write (allocating)", true, bytes);
  sequential(**image, name, "seq 1M write (overwrite)", true, bytes);
  sequential(**image, name, "seq 1M read", false, bytes);
  random4k(**image, name, ("rand 4K read x" + threads).c_str(), false, bytes, o.threads);
  random4k(**image, name, ("rand 4K write x" + threads).c_str(), true, bytes, o.threads);
  random4k(**image, name, "rand 4K read x1", false, bytes, 1);
  image->reset();
  if (format == ImageFormat::kQcow2) {
    // QEMU's block layer on the same file, sequential only (what qemu-img bench offers).
    const std::string cache = o.direct ? "none" : "writeback";
    const std::string count = std::to_string(o.mib);
    for (const char* extra : {"-w", ""}) {
      const std::string cmd = "qemu-img bench -f qcow2 -t " + cache + " -c " + count +
                              " -s 1M -d 1 " + extra + " " + path + " 2>&1";
      FILE* pipe = ::popen(cmd.c_str(), "r");
      double seconds = 0;
      char line[512];
      while (pipe != nullptr && std::fgets(line, sizeof line, pipe) != nullptr) {
        (void)std::sscanf(line, "Run completed in %lf seconds", &seconds);
      }
      if (pipe != nullptr) ::pclose(pipe);
      if (seconds <= 0) die("qemu-img bench failed: " + cmd);
      row("qemu", *extra ? "seq 1M write (qemu-img)" : "seq 1M read (qemu-img)", seconds,
          o.mib << 20, o.mib);
    }
  }
  ::unlink(path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      o.dir = argv[++i];
    } else if (arg == "--mib" && i + 1 < argc) {
      o.mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--threads" && i + 1 < argc) {
      o.threads = std::atoi(argv[++i]);
    } else if (arg == "--direct") {
      o.direct = true;
    } else {
      die("usage: qcow2_host [--dir DIR] [--mib N] [--threads T] [--direct]");
    }
  }
  if (o.mib == 0 || o.threads < 1) die("--mib and --threads must be positive");
  std::printf("qcow2_host: %llu MiB in %s, %s, %d threads for the x%d rows\n",
              static_cast<unsigned long long>(o.mib), o.dir.c_str(),
              o.direct ? "O_DIRECT" : "buffered", o.threads, o.threads);
  run_format(o, ImageFormat::kRaw);
  run_format(o, ImageFormat::kQcow2);
  return 0;
}
