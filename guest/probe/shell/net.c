/* net info | use N | send MAC COUNT SIZE | recv COUNT SECONDS | ping IP COUNT |
 * bench MAC SECONDS SIZE. Output lines: team/NETWORK.md. Everything runs in ring 3 and polls
 * the rings; ARP and ICMP echo requests are answered while a command runs (net/stack.c). */
#include "shell/net.h"

#include "hw/clock.h"
#include "hw/io.h"
#include "lib/lib.h"
#include "net/stack.h"
#include "virtio/virtio_net.h"

#define TEST_MAGIC 0x464c544eu /* "FLTN" */
#define TEST_DATA 30u          /* offset of the pattern bytes */
#define TX_BATCH 32u           /* frames queued per notify */
#define STALL_US 5000000ull    /* a transmit ring that does not move for this long is stuck */
/* How long a receiver polls an empty ring before it sleeps until the device interrupts. */
#ifndef RX_SPIN_US
#define RX_SPIN_US 20u
#endif
/* How long a sender polls a full transmit ring before it sleeps until the device frees some. */
#ifndef TX_SPIN_US
#define TX_SPIN_US 20u
#endif

static unsigned current;
static char err_buf[96];

static struct net_dev* selected(void) {
  return net_get(current);
}

static uint64_t us_to_tsc(uint64_t us) {
  return clock_info.tsc_hz / 1000000 * us;
}

static void put_le32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t le32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 32-bit sum of little-endian words of data[0..len), the last partial word zero-padded. */
static uint32_t data_sum(const uint8_t* p, uint32_t len) {
  uint32_t sum = 0, i = 0;
  for (; i + 4 <= len; i += 4) sum += le32(p + i);
  if (i < len) {
    uint8_t tail[4] = {0, 0, 0, 0};
    for (uint32_t k = 0; i + k < len; ++k) tail[k] = p[i + k];
    sum += le32(tail);
  }
  return sum;
}

/* pattern[k] = k & 0xff: a test frame's data for seq is pattern + (seq & 0xff). */
static uint8_t pattern[256 + NET_MAX_FRAME];
static uint32_t pattern_sums[256]; /* for the current frame size */
static uint32_t pattern_size;

static void pattern_prepare(uint32_t size) {
  if (!pattern[1])
    for (uint32_t k = 0; k < sizeof pattern; ++k) pattern[k] = (uint8_t)k;
  if (pattern_size == size) return;
  pattern_size = size;
  for (uint32_t s = 0; s < 256; ++s) pattern_sums[s] = data_sum(pattern + s, size - TEST_DATA);
}

static void copy_words(uint8_t* dst, const uint8_t* src, uint32_t n) {
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) *(uint64_t*)(dst + i) = *(const uint64_t*)(src + i);
  for (; i < n; ++i) dst[i] = src[i];
}

/* Builds test frame `seq` of `count`, `size` bytes, from d to dst (pattern_prepare(size) first). */
static void build_test_frame(uint8_t* f, struct net_dev* d, const uint8_t* dst, uint32_t seq,
                             uint32_t count, uint32_t size) {
  memcpy(f, dst, 6);
  memcpy(f + 6, d->mac, 6);
  net_put_be16(f + 12, ETH_TYPE_TEST);
  put_le32(f + 14, TEST_MAGIC);
  put_le32(f + 18, seq);
  put_le32(f + 22, count);
  put_le32(f + 26, pattern_sums[seq & 0xff]);
  copy_words(f + TEST_DATA, pattern + (seq & 0xff), size - TEST_DATA);
}

/* ms, frames/s and tenths of Mbit/s of `frames` frames of `bytes` total over `cycles`. */
static void rates(uint64_t frames, uint64_t bytes, uint64_t cycles, uint64_t* ms, uint64_t* fps,
                  uint64_t* tenths) {
  if (!cycles) cycles = 1;
  uint64_t hz = clock_info.tsc_hz;
  *ms = cycles * 1000 / hz;
  /* frames * hz overflows only beyond ~6e9 frames. Mbit/s = bits per microsecond. */
  *fps = (frames * hz + cycles / 2) / cycles;
  uint64_t per_us = hz / 1000000 ? hz / 1000000 : 1;
  uint64_t us = cycles / per_us ? cycles / per_us : 1;
  *tenths = (bytes * 80 + us / 2) / us;
}

static const char* cmd_info(void) {
  unsigned n = net_count();
  if (!n) return "no virtio-net device";
  for (unsigned i = 0; i < n; ++i) {
    struct net_dev* d = net_get(i);
    char mac[18], ip[24];
    net_format_mac(d->mac, mac);
    if (d->ip) {
      net_format_ip(d->ip, ip);
      ksnprintf(ip + strlen(ip), 5, "/%u", d->prefix);
    } else {
      ip[0] = '-';
      ip[1] = 0;
    }
    kprintf("net dev=%u mac=%s ip=%s link=%s features=0x%lx\r\n", i, mac, ip,
            net_link_up(d) ? "up" : "down", d->vdev->features);
  }
  return 0;
}

/* Sends test frames to dst: `count` of them, or (count 0) for `seconds`. Returns 0 or an error;
 * *sent and *cycles say how many went and how long (first submit to the last completion). */
static const char* transmit(struct net_dev* d, const uint8_t* dst, uint64_t count, uint64_t seconds,
                            uint32_t size, uint64_t* sent, uint64_t* cycles) {
  pattern_prepare(size);
  uint64_t t0 = rdtsc(), end = t0 + seconds * clock_info.tsc_hz, last_progress = t0;
  uint64_t seq = 0;
  unsigned queued = 0;
  for (;;) {
    if (count ? seq >= count : (int64_t)(rdtsc() - end) >= 0) break;
    uint8_t* f = net_tx_alloc(d);
    if (!f) {
      net_tx_kick(d);
      queued = 0;
      net_poll(d, 0, 0); /* answer ARP/ICMP meanwhile */
      uint64_t now = rdtsc();
      if (now - last_progress > us_to_tsc(STALL_US)) return "net transmit stalled";
      if (now - last_progress > us_to_tsc(TX_SPIN_US))
        net_sleep(d, 0, 1); /* until the device returns buffers: leave it the CPU */
      else
        cpu_relax();
      continue;
    }
    last_progress = rdtsc();
    build_test_frame(f, d, dst, (uint32_t)seq, count ? (uint32_t)count : 0, size);
    net_tx_submit(d, f, size);
    ++seq;
    if (++queued >= TX_BATCH) {
      net_tx_kick(d);
      queued = 0;
    }
  }
  net_tx_kick(d);
  uint64_t wait_from = rdtsc();
  while (net_tx_reap(d)) {
    if (rdtsc() - wait_from > us_to_tsc(STALL_US)) return "net transmit stalled";
    cpu_relax();
  }
  *cycles = rdtsc() - t0;
  *sent = seq;
  return 0;
}

static const char* cmd_send(struct net_dev* d, const uint8_t* dst, uint64_t count, uint64_t size) {
  uint64_t sent = 0, cycles = 0, ms, fps, tenths;
  const char* err = transmit(d, dst, count, 0, (uint32_t)size, &sent, &cycles);
  if (err) return err;
  rates(sent, sent * size, cycles, &ms, &fps, &tenths);
  kprintf("net send count=%lu size=%lu ms=%lu frames_per_s=%lu mbit_per_s=%lu.%lu\r\n", sent, size,
          ms, fps, tenths / 10, tenths % 10);
  return 0;
}

static const char* cmd_bench(struct net_dev* d, const uint8_t* dst, uint64_t seconds,
                             uint64_t size) {
  uint64_t sent = 0, cycles = 0, ms, fps, tenths;
  const char* err = transmit(d, dst, 0, seconds, (uint32_t)size, &sent, &cycles);
  if (err) return err;
  rates(sent, sent * size, cycles, &ms, &fps, &tenths);
  kprintf("net bench size=%lu frames=%lu ms=%lu frames_per_s=%lu mbit_per_s=%lu.%lu\r\n", size,
          sent, ms, fps, tenths / 10, tenths % 10);
  return 0;
}

struct recv_state {
  uint64_t want; /* frames after the COUNT-th are left alone (a poll drains a whole ring) */
  uint64_t received, bad, out_of_order, bytes;
  uint64_t first_tsc, last_tsc;
  uint32_t highest;
  int any;
};

static int test_frame_ok(const uint8_t* f, uint32_t len) {
  if (len < TEST_DATA || le32(f + 14) != TEST_MAGIC) return 0;
  if (data_sum(f + TEST_DATA, len - TEST_DATA) != le32(f + 26)) return 0;
  uint32_t seq = le32(f + 18);
  for (uint32_t i = 0; TEST_DATA + i < len; ++i)
    if (f[TEST_DATA + i] != (uint8_t)(seq + i)) return 0;
  return 1;
}

static void on_recv(void* ctx, struct net_dev* d, const uint8_t* f, uint32_t len) {
  struct recv_state* s = ctx;
  if (net_be16(f + 12) != ETH_TYPE_TEST || memcmp(f, d->mac, 6) || s->received >= s->want) return;
  uint64_t now = rdtsc();
  if (!s->any) s->first_tsc = now;
  s->last_tsc = now;
  if (!test_frame_ok(f, len)) {
    ++s->bad;
    s->any = 1;
    return;
  }
  uint32_t seq = le32(f + 18);
  if (s->any && s->received && seq < s->highest) ++s->out_of_order;
  if (!s->received || seq > s->highest) s->highest = seq;
  s->any = 1;
  ++s->received;
  s->bytes += len;
}

static const char* cmd_recv(struct net_dev* d, uint64_t count, uint64_t seconds) {
  struct recv_state s;
  memset(&s, 0, sizeof s);
  s.want = count;
  uint64_t deadline = rdtsc() + seconds * clock_info.tsc_hz, quiet_from = rdtsc();
  while (s.received < count && (int64_t)(rdtsc() - deadline) < 0) {
    if (net_poll(d, on_recv, &s)) {
      quiet_from = rdtsc();
    } else if (rdtsc() - quiet_from < us_to_tsc(RX_SPIN_US)) {
      cpu_relax();
    } else {
      net_sleep(d, 1, 0); /* until the next frames (or the tick) */
    }
  }
  uint64_t ms, fps, tenths;
  rates(s.received, s.bytes, s.last_tsc - s.first_tsc, &ms, &fps, &tenths);
  kprintf(
      "net recv received=%lu lost=%lu bad=%lu out_of_order=%lu ms=%lu frames_per_s=%lu "
      "mbit_per_s=%lu.%lu\r\n",
      s.received, s.received < count ? count - s.received : 0, s.bad, s.out_of_order, ms, fps,
      tenths / 10, tenths % 10);
  return s.received == count && !s.bad ? 0 : "net recv incomplete";
}

struct ping_state {
  uint32_t ip;
  uint16_t id, seq;
  int got;
};

static void on_ping(void* ctx, struct net_dev* d, const uint8_t* f, uint32_t len) {
  struct ping_state* p = ctx;
  if (net_be16(f + 12) != ETH_TYPE_IPV4 || len < 42) return;
  const uint8_t* ip = f + 14;
  uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
  if (ip[9] != 1 || net_be32(ip + 12) != p->ip || net_be32(ip + 16) != d->ip) return;
  if (14 + ihl + 8 > len) return;
  const uint8_t* icmp = ip + ihl;
  if (icmp[0] == 0 && net_be16(icmp + 4) == p->id && net_be16(icmp + 6) == p->seq) p->got = 1;
}

static const char* cmd_ping(struct net_dev* d, uint32_t ip, uint64_t count) {
  if (!d->ip) return "net no address (ip= on the command line)";
  struct ping_state p = {ip, 0x464c, 0, 0};
  uint8_t mac[6];
  if (net_arp_resolve(d, ip, mac, 3000000, on_ping, &p)) {
    char s[16];
    net_format_ip(ip, s);
    ksnprintf(err_buf, sizeof err_buf, "net ping no ARP reply from %s", s);
    return err_buf;
  }
  uint8_t payload[56];
  for (unsigned i = 0; i < sizeof payload; ++i) payload[i] = (uint8_t)i;
  uint64_t received = 0, min_us = 0, max_us = 0, sum_us = 0, per_us = clock_info.tsc_hz / 1000000;
  if (!per_us) per_us = 1;
  for (uint64_t i = 0; i < count; ++i) {
    p.seq = (uint16_t)i;
    p.got = 0;
    uint64_t t0 = rdtsc();
    if (net_send_echo(d, mac, ip, p.id, p.seq, payload, sizeof payload)) {
      net_tx_reap(d);
      if (net_send_echo(d, mac, ip, p.id, p.seq, payload, sizeof payload))
        return "net transmit ring full";
    }
    uint64_t rtt = 0;
    while (!p.got && rdtsc() - t0 < us_to_tsc(1000000)) {
      if (!net_poll(d, on_ping, &p)) {
        if (rdtsc() - t0 < us_to_tsc(RX_SPIN_US))
          cpu_relax();
        else
          net_sleep(d, 1, 0); /* the reply's interrupt (or the tick) ends it */
      }
      if (p.got) rtt = (rdtsc() - t0) / per_us;
    }
    net_tx_reap(d);
    if (p.got) {
      if (!received || rtt < min_us) min_us = rtt;
      if (rtt > max_us) max_us = rtt;
      sum_us += rtt;
      ++received;
    }
    while (i + 1 < count && rdtsc() - t0 < us_to_tsc(10000)) { /* 1 per 10 ms at most */
      if (!net_poll(d, 0, 0)) net_sleep(d, 1, 0);              /* a frame or the 100 Hz tick */
    }
  }
  char s[16];
  net_format_ip(ip, s);
  kprintf("net ping ip=%s sent=%lu received=%lu rtt_min_us=%lu rtt_avg_us=%lu rtt_max_us=%lu\r\n",
          s, count, received, min_us, received ? sum_us / received : 0, max_us);
  return received ? 0 : "net ping no reply";
}

static int streq(const char* a, const char* b) {
  return !strcmp(a, b);
}

const char* cmd_net(int argc, char** argv, const char* rest) {
  (void)rest;
  static const char usage[] =
      "usage: net info | use N | send MAC COUNT SIZE | recv COUNT SECONDS | ping IP COUNT | "
      "bench MAC SECONDS SIZE";
  if (argc < 2) return usage;
  const char* sub = argv[1];
  if (streq(sub, "info") && argc == 2) return cmd_info();
  if (!net_count()) return "no virtio-net device";
  uint64_t a = 0, b = 0;
  uint8_t mac[6];
  uint32_t ip;
  if (streq(sub, "use") && argc == 3 && !parse_u64(argv[2], &a)) {
    if (a >= net_count()) return "no such net device";
    current = (unsigned)a;
    kprintf("net dev=%u\r\n", current);
    return 0;
  }
  struct net_dev* d = selected();
  if ((streq(sub, "send") || streq(sub, "bench")) && argc == 5) {
    if (net_parse_mac(argv[2], mac)) return "net bad MAC (aa:bb:cc:dd:ee:ff)";
    if (parse_u64(argv[3], &a) || parse_u64(argv[4], &b)) return usage;
    if (b < 60 || b > NET_MAX_FRAME) return "net SIZE must be 60..1514";
    if (streq(sub, "send")) {
      if (a > 0xffffffffull) return "net COUNT too large";
      return cmd_send(d, mac, a, b);
    }
    if (a < 1 || a > 3600) return "net SECONDS must be 1..3600";
    return cmd_bench(d, mac, a, b);
  }
  if (streq(sub, "recv") && argc == 4 && !parse_u64(argv[2], &a) && !parse_u64(argv[3], &b)) {
    if (b > 3600) return "net SECONDS must be 0..3600";
    return cmd_recv(d, a, b);
  }
  if (streq(sub, "ping") && argc == 4) {
    if (net_parse_ip(argv[2], &ip)) return "net bad IP (a.b.c.d)";
    if (parse_u64(argv[3], &a) || a < 1 || a > 100000) return "net COUNT must be 1..100000";
    return cmd_ping(d, ip, a);
  }
  return usage;
}
