#include "net/stack.h"

#include "hw/clock.h"
#include "hw/io.h"
#include "lib/lib.h"

#define ARP_CACHE 16

struct arp_entry {
  struct net_dev* dev;
  uint32_t ip;
  uint8_t mac[6];
};

static struct arp_entry arp_cache[ARP_CACHE];
static unsigned arp_next;
static unsigned replies; /* ARP and ICMP echo replies sent */

static const uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void arp_learn(struct net_dev* d, uint32_t ip, const uint8_t* mac) {
  if (!ip) return;
  for (unsigned i = 0; i < ARP_CACHE; ++i)
    if (arp_cache[i].dev == d && arp_cache[i].ip == ip) {
      memcpy(arp_cache[i].mac, mac, 6);
      return;
    }
  struct arp_entry* e = &arp_cache[arp_next++ % ARP_CACHE];
  e->dev = d;
  e->ip = ip;
  memcpy(e->mac, mac, 6);
}

static int arp_lookup(struct net_dev* d, uint32_t ip, uint8_t mac[6]) {
  for (unsigned i = 0; i < ARP_CACHE; ++i)
    if (arp_cache[i].dev == d && arp_cache[i].ip == ip) {
      memcpy(mac, arp_cache[i].mac, 6);
      return 0;
    }
  return -1;
}

uint16_t net_checksum(const uint8_t* p, uint32_t len) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void eth_header(uint8_t* f, const uint8_t* dst, const uint8_t* src, uint16_t type) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  net_put_be16(f + 12, type);
}

/* ARP for IPv4 over Ethernet (RFC 826): 28 bytes after the Ethernet header. */
static int send_arp(struct net_dev* d, uint16_t op, const uint8_t* dst_mac, const uint8_t* tha,
                    uint32_t tpa) {
  uint8_t* f = net_tx_alloc(d);
  if (!f) return -1;
  eth_header(f, dst_mac, d->mac, ETH_TYPE_ARP);
  uint8_t* a = f + 14;
  net_put_be16(a, 1); /* Ethernet */
  net_put_be16(a + 2, ETH_TYPE_IPV4);
  a[4] = 6;
  a[5] = 4;
  net_put_be16(a + 6, op);
  memcpy(a + 8, d->mac, 6);
  net_put_be32(a + 14, d->ip);
  memcpy(a + 18, tha, 6);
  net_put_be32(a + 24, tpa);
  memset(f + 42, 0, 18); /* pad to the 60-byte minimum */
  net_tx_submit(d, f, 60);
  net_tx_kick(d);
  return 0;
}

static void handle_arp(struct net_dev* d, const uint8_t* f, uint32_t len) {
  if (len < 42) return;
  const uint8_t* a = f + 14;
  if (net_be16(a) != 1 || net_be16(a + 2) != ETH_TYPE_IPV4 || a[4] != 6 || a[5] != 4) return;
  uint16_t op = net_be16(a + 6);
  uint32_t spa = net_be32(a + 14), tpa = net_be32(a + 24);
  if (!d->ip || tpa != d->ip) return;
  arp_learn(d, spa, a + 8);
  if (op == 1 && !send_arp(d, 2, a + 8, a + 8, spa)) ++replies;
}

/* IPv4 to our address: ICMP echo requests are answered, everything else goes to fn. */
static int handle_ipv4(struct net_dev* d, const uint8_t* f, uint32_t len) {
  if (len < 34 || !d->ip) return 0;
  const uint8_t* ip = f + 14;
  uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20) return 1;
  uint32_t total = net_be16(ip + 2);
  if (total < ihl || 14 + total > len) return 1;
  if (net_be32(ip + 16) != d->ip) return 1;
  if (net_checksum(ip, ihl)) return 1;
  if (ip[9] != 1) return 1; /* ICMP only */
  const uint8_t* icmp = ip + ihl;
  uint32_t icmp_len = total - ihl;
  if (icmp_len < 8 || net_checksum(icmp, icmp_len)) return 1;
  if (icmp[0] != 8) return 0; /* not an echo request: the caller may want it (echo replies) */
  if (20 + icmp_len + 14 > NET_MAX_FRAME) return 1;
  uint8_t* r = net_tx_alloc(d);
  if (!r) return 1; /* transmit ring full: the host will retry */
  eth_header(r, f + 6, d->mac, ETH_TYPE_IPV4);
  uint8_t* rip = r + 14;
  rip[0] = 0x45;
  rip[1] = 0;
  net_put_be16(rip + 2, (uint16_t)(20 + icmp_len));
  net_put_be16(rip + 4, net_be16(ip + 4));
  net_put_be16(rip + 6, 0);
  rip[8] = 64;
  rip[9] = 1;
  net_put_be16(rip + 10, 0);
  memcpy(rip + 12, ip + 16, 4); /* from us */
  memcpy(rip + 16, ip + 12, 4); /* to the sender */
  net_put_be16(rip + 10, net_checksum(rip, 20));
  uint8_t* ricmp = rip + 20;
  memcpy(ricmp, icmp, icmp_len);
  ricmp[0] = 0; /* echo reply */
  ricmp[2] = ricmp[3] = 0;
  net_put_be16(ricmp + 2, net_checksum(ricmp, icmp_len));
  uint32_t out = 14 + 20 + icmp_len;
  if (out < 60) {
    memset(r + out, 0, 60 - out);
    out = 60;
  }
  net_tx_submit(d, r, out);
  net_tx_kick(d);
  ++replies;
  /* Learn the sender's MAC too (saves an ARP round when we ping it back). */
  arp_learn(d, net_be32(ip + 12), f + 6);
  return 1;
}

unsigned net_poll(struct net_dev* d, net_frame_fn fn, void* ctx) {
  unsigned n = 0;
  const uint8_t* f;
  uint32_t len;
  int id;
  while ((id = net_rx_take(d, &f, &len)) >= 0) {
    ++n;
    uint16_t type = net_be16(f + 12);
    int for_us = !memcmp(f, d->mac, 6) || !memcmp(f, kBroadcast, 6);
    if (type == ETH_TYPE_ARP && for_us)
      handle_arp(d, f, len);
    else if (type == ETH_TYPE_IPV4 && for_us) {
      if (!handle_ipv4(d, f, len) && fn) fn(ctx, d, f, len);
    } else if (fn)
      fn(ctx, d, f, len);
    net_rx_release(d, id);
    if ((n & 31) == 0) net_rx_kick(d); /* keep the device supplied during long bursts */
  }
  net_rx_kick(d);
  return n;
}

unsigned net_poll_all(void) {
  unsigned before = replies, n = net_count();
  for (unsigned i = 0; i < n; ++i) net_poll(net_get(i), 0, 0);
  return replies - before;
}

void net_idle(int idle) {
  unsigned n = net_count();
  for (unsigned i = 0; i < n; ++i) net_rx_interrupts(net_get(i), idle);
}

int net_arp_resolve(struct net_dev* d, uint32_t ip, uint8_t mac[6], uint64_t timeout_us,
                    net_frame_fn fn, void* ctx) {
  if (!arp_lookup(d, ip, mac)) return 0;
  uint64_t per_us = clock_info.tsc_hz / 1000000;
  uint64_t deadline = rdtsc() + per_us * timeout_us;
  uint64_t next_request = rdtsc();
  static const uint8_t zero[6] = {0};
  for (;;) {
    uint64_t now = rdtsc();
    if ((int64_t)(now - deadline) > 0) return -1;
    if ((int64_t)(now - next_request) >= 0) {
      send_arp(d, 1, kBroadcast, zero, ip);
      next_request = now + per_us * 200000; /* retry every 200 ms */
    }
    net_poll(d, fn, ctx);
    if (!arp_lookup(d, ip, mac)) return 0;
    cpu_relax();
  }
}

int net_send_echo(struct net_dev* d, const uint8_t mac[6], uint32_t ip, uint16_t id, uint16_t seq,
                  const uint8_t* payload, uint32_t payload_len) {
  if (14 + 20 + 8 + payload_len > NET_MAX_FRAME) return -1;
  uint8_t* f = net_tx_alloc(d);
  if (!f) return -1;
  eth_header(f, mac, d->mac, ETH_TYPE_IPV4);
  uint8_t* h = f + 14;
  h[0] = 0x45;
  h[1] = 0;
  net_put_be16(h + 2, (uint16_t)(28 + payload_len));
  net_put_be16(h + 4, seq);
  net_put_be16(h + 6, 0x4000); /* DF */
  h[8] = 64;
  h[9] = 1;
  net_put_be16(h + 10, 0);
  net_put_be32(h + 12, d->ip);
  net_put_be32(h + 16, ip);
  net_put_be16(h + 10, net_checksum(h, 20));
  uint8_t* icmp = h + 20;
  icmp[0] = 8;
  icmp[1] = 0;
  net_put_be16(icmp + 2, 0);
  net_put_be16(icmp + 4, id);
  net_put_be16(icmp + 6, seq);
  memcpy(icmp + 8, payload, payload_len);
  net_put_be16(icmp + 2, net_checksum(icmp, 8 + payload_len));
  uint32_t out = 42 + payload_len;
  if (out < 60) {
    memset(f + out, 0, 60 - out);
    out = 60;
  }
  net_tx_submit(d, f, out);
  net_tx_kick(d);
  return 0;
}

int net_parse_ip(const char* s, uint32_t* ip) {
  uint32_t v = 0;
  for (int part = 0; part < 4; ++part) {
    uint32_t octet = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
      octet = octet * 10 + (uint32_t)(*s++ - '0');
      ++digits;
    }
    if (!digits || octet > 255) return -1;
    v = v << 8 | octet;
    if (part < 3 && *s++ != '.') return -1;
  }
  if (*s) return -1;
  *ip = v;
  return 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int net_parse_mac(const char* s, uint8_t mac[6]) {
  for (int i = 0; i < 6; ++i) {
    int hi = hex_digit(s[0]), lo = hex_digit(s[1]);
    if (hi < 0 || lo < 0) return -1;
    mac[i] = (uint8_t)(hi << 4 | lo);
    s += 2;
    if (i < 5 && *s++ != ':') return -1;
  }
  return *s ? -1 : 0;
}

void net_format_mac(const uint8_t mac[6], char* buf) {
  for (int i = 0; i < 6; ++i) {
    buf[i * 3] = "0123456789abcdef"[mac[i] >> 4];
    buf[i * 3 + 1] = "0123456789abcdef"[mac[i] & 15];
    buf[i * 3 + 2] = i < 5 ? ':' : 0;
  }
}

void net_format_ip(uint32_t ip, char* buf) {
  ksnprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}
