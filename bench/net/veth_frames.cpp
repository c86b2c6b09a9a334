// veth_frames: the host's own limit for bench/net. In a network namespace of its own, two
// processes exchange test frames (NETWORK.md format) over a veth pair with AF_PACKET sockets,
// one send(2) and one recv(2) per frame — the same per-frame work a monitor does on its TAP.
// Prints one line: `veth size=<n> sent=<n> received=<n> lost=<n> ms=<n> frames_per_s=<n>
// gbit_per_s=<x.yyy>` (throughput counted on what arrived).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "network/links.h"

namespace {

int packet_socket(const char* ifname) {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5));
  if (fd < 0) return -1;
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(0x88b5);
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  return fd;
}

void fill_frame(std::vector<uint8_t>& f, uint32_t seq, uint32_t count) {
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, "\x02\xf1\x0a\x00\x00\x09", 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  const uint32_t header[3] = {0x464c544e, seq, count};
  std::memcpy(f.data() + 14, header, sizeof header);
  for (size_t i = 30; i < f.size(); ++i) f[i] = static_cast<uint8_t>(seq + (i - 30));
  uint32_t sum = 0;
  for (size_t i = 30; i < f.size(); i += 4) {
    uint32_t w = 0;
    std::memcpy(&w, f.data() + i, std::min<size_t>(4, f.size() - i));
    sum += w;
  }
  std::memcpy(f.data() + 26, &sum, 4);
}

int receive(const char* ifname, uint32_t count, int write_fd) {
  const int fd = packet_socket(ifname);
  if (fd < 0) return 1;
  const char ready = 'r';
  if (write(write_fd, &ready, 1) != 1) return 1;
  std::vector<uint8_t> buf(2048);
  uint32_t received = 0;
  pollfd p{fd, POLLIN, 0};
  std::chrono::steady_clock::time_point first, last;
  while (received < count && poll(&p, 1, 500) == 1) {
    if (recv(fd, buf.data(), buf.size(), 0) > 0) {
      last = std::chrono::steady_clock::now();
      if (received++ == 0) first = last;
    }
  }
  // Frames and the time from the first to the last one: a tail of losses adds no idle time.
  const double seconds = std::chrono::duration<double>(last - first).count();
  if (write(write_fd, &received, sizeof received) != sizeof received) return 1;
  if (write(write_fd, &seconds, sizeof seconds) != sizeof seconds) return 1;
  return 0;
}

}  // namespace

// `veth_frames --recv IFNAME COUNT SECONDS`: counts test frames arriving on IFNAME (in the
// caller's namespace) until COUNT or SECONDS of silence; prints `host recv received=<n>
// ms=<n> frames_per_s=<n> gbit_per_s=<x.yyy>` (first to last frame). bench/net's guest→host row.
// A sink, not a peer: it takes frames from a TPACKET_V3 ring in blocks (woken once per block or
// per millisecond, never per frame) and times them by the kernel's arrival stamps, so what the
// row measures is the sender's path, not this process's per-frame wake-ups (which, woken on the
// sender's core, preempted the sending thread and capped every monitor at the same rate).
int receive_only(const char* ifname, uint32_t count, int seconds) {
  const int fd = packet_socket(ifname);
  if (fd < 0) {
    std::perror("packet socket");
    return 1;
  }
  int version = TPACKET_V3;
  tpacket_req3 req{};
  req.tp_block_size = 1 << 20;
  req.tp_block_nr = 32;
  req.tp_frame_size = 2048;
  req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
  req.tp_retire_blk_tov = 1;  // ms: a partly filled block is handed over after this
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    std::perror("PACKET_RX_RING");
    return 1;
  }
  const size_t ring_bytes = static_cast<size_t>(req.tp_block_size) * req.tp_block_nr;
  void* mapped = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) {
    std::perror("mmap(PACKET_RX_RING)");
    return 1;
  }
  auto* ring = static_cast<uint8_t*>(mapped);
  std::printf("host recv ready\n");
  std::fflush(stdout);
  uint32_t received = 0;
  uint64_t bytes = 0, first_ns = 0, last_ns = 0;
  pollfd p{fd, POLLIN, 0};
  unsigned block = 0;
  while (received < count) {
    auto* desc = reinterpret_cast<tpacket_block_desc*>(ring + size_t{block} * req.tp_block_size);
    if ((__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
      if (poll(&p, 1, seconds * 1000) != 1) break;  // SECONDS of silence
      continue;
    }
    const uint8_t* at = reinterpret_cast<const uint8_t*>(desc) + desc->hdr.bh1.offset_to_first_pkt;
    for (uint32_t i = 0; i < desc->hdr.bh1.num_pkts && received < count; ++i) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(at);
      const uint64_t ns = uint64_t{h->tp_sec} * 1'000'000'000 + h->tp_nsec;
      if (received++ == 0) first_ns = ns;
      last_ns = std::max(last_ns, ns);
      bytes += h->tp_snaplen;
      at += h->tp_next_offset;
    }
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    block = (block + 1) % req.tp_block_nr;
  }
  munmap(mapped, ring_bytes);
  const double s = std::max(1e-9, static_cast<double>(last_ns - first_ns) / 1e9);
  std::printf("host recv received=%u ms=%.0f frames_per_s=%.0f gbit_per_s=%.3f\n", received,
              s * 1000, received / s, static_cast<double>(bytes) * 8 / s / 1e9);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--recv") == 0) {
    return receive_only(argv[2], static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)),
                        std::atoi(argv[4]));
  }
  const size_t size = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  const uint32_t count =
      argc > 2 ? static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10)) : 200000;
  if (size < 60 || size > 1514) {
    std::fprintf(stderr, "usage: veth_frames SIZE(60..1514) COUNT\n");
    return 2;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
  auto links = flotilla::network::Links::open();
  if (!links) {
    std::fprintf(stderr, "%s\n", links.error().message.c_str());
    return 1;
  }
  if (auto made = links->create_veth("vb0", "vb1"); !made) {
    std::fprintf(stderr, "%s\n", made.error().message.c_str());
    return 1;
  }
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) _exit(receive("vb1", count, pipefd[1]));
  char ready = 0;
  if (read(pipefd[0], &ready, 1) != 1) return 1;
  const int fd = packet_socket("vb0");
  if (fd < 0) return 1;
  std::vector<uint8_t> frame(size);
  uint32_t sent = 0;
  for (uint32_t seq = 0; seq < count; ++seq) {
    fill_frame(frame, seq, count);
    if (send(fd, frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size())) ++sent;
  }
  uint32_t received = 0;
  double seconds = 0;
  if (read(pipefd[0], &received, sizeof received) != sizeof received) return 1;
  if (read(pipefd[0], &seconds, sizeof seconds) != sizeof seconds) return 1;
  if (seconds <= 0) seconds = 1e-9;
  waitpid(child, nullptr, 0);
  const double fps = received / seconds;
  std::printf(
      "veth size=%zu sent=%u received=%u lost=%u ms=%.0f frames_per_s=%.0f gbit_per_s=%.3f\n", size,
      sent, received, sent - received, seconds * 1000, fps, fps * size * 8 / 1e9);
  return 0;
}
