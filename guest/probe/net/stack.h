/* The probe's minimal network stack on top of virtio_net.h: Ethernet, ARP (answers requests
 * for the NIC's address, learns from replies and requests), IPv4 and ICMP echo (answers echo
 * requests to the NIC's address). Anything else is handed to the caller's frame handler (test
 * frames, echo replies for `net ping`) or dropped. */
#ifndef PROBE_NET_STACK_H
#define PROBE_NET_STACK_H

#include <stdint.h>

#include "virtio/virtio_net.h"

#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806
#define ETH_TYPE_TEST 0x88b5

static inline uint16_t net_be16(const uint8_t* p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t net_be32(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void net_put_be16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void net_put_be32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Frames the stack does not consume itself. */
typedef void (*net_frame_fn)(void* ctx, struct net_dev* d, const uint8_t* frame, uint32_t len);

/* Handles every frame waiting on d's receive ring (ARP, ICMP echo), passing the rest to fn
 * (when set); re-posts the buffers and kicks once. Returns how many frames were taken. */
unsigned net_poll(struct net_dev* d, net_frame_fn fn, void* ctx);
/* Idle duty: net_poll on every NIC without a handler (cheap when nothing arrived: no exits).
 * Returns how many ARP / ICMP echo replies it sent. */
unsigned net_poll_all(void);

/* Entering (1) or leaving (0) the shell's idle wait: receive interrupts on/off on every NIC
 * (net_rx_interrupts). Enter, then poll once more, then sleep: a frame that lands after that
 * last poll raises the interrupt that ends the sleep. */
void net_idle(int idle);

/* The 16-bit one's-complement Internet checksum of len bytes. */
uint16_t net_checksum(const uint8_t* p, uint32_t len);
/* The MAC of ip on d's link: from the cache, else by ARP requests for up to timeout_us
 * (answering others meanwhile, frames for fn passed on). 0 on success. */
int net_arp_resolve(struct net_dev* d, uint32_t ip, uint8_t mac[6], uint64_t timeout_us,
                    net_frame_fn fn, void* ctx);
/* Sends an ICMP echo request (id, seq, payload_len bytes of payload) to ip at mac. 0 or -1
 * when the transmit ring is full. */
int net_send_echo(struct net_dev* d, const uint8_t mac[6], uint32_t ip, uint16_t id, uint16_t seq,
                  const uint8_t* payload, uint32_t payload_len);

/* "a.b.c.d" → host-order address; 0 on success. */
int net_parse_ip(const char* s, uint32_t* ip);
/* "aa:bb:cc:dd:ee:ff" (hex, either case); 0 on success. */
int net_parse_mac(const char* s, uint8_t mac[6]);
/* Formats into buf (at least 18 / 16 bytes). */
void net_format_mac(const uint8_t mac[6], char* buf);
void net_format_ip(uint32_t ip, char* buf);

#endif
