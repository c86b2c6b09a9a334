// virtio-net's wire constants (virtio 1.x 5.1). <linux/virtio_net.h> cannot be included from C++
// (a struct member there is named `class`), so the few values the device and its tests need
// are spelled out here, with their spec names.
#pragma once

#include <cstdint>

namespace flotilla::vmm::virtio::net_abi {

// Feature bits.
inline constexpr unsigned kFCsum = 0;       // VIRTIO_NET_F_CSUM
inline constexpr unsigned kFGuestCsum = 1;  // VIRTIO_NET_F_GUEST_CSUM
inline constexpr unsigned kFMac = 5;        // VIRTIO_NET_F_MAC
inline constexpr unsigned kFGuestTso4 = 7;  // VIRTIO_NET_F_GUEST_TSO4
inline constexpr unsigned kFGuestTso6 = 8;  // VIRTIO_NET_F_GUEST_TSO6
inline constexpr unsigned kFHostTso4 = 11;  // VIRTIO_NET_F_HOST_TSO4
inline constexpr unsigned kFHostTso6 = 12;  // VIRTIO_NET_F_HOST_TSO6
inline constexpr unsigned kFMrgRxbuf = 15;  // VIRTIO_NET_F_MRG_RXBUF
inline constexpr unsigned kFStatus = 16;    // VIRTIO_NET_F_STATUS

inline constexpr uint16_t kStatusLinkUp = 1;  // VIRTIO_NET_S_LINK_UP

inline constexpr uint8_t kHdrFNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kGsoNone = 0;        // VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kGsoTcpV4 = 1;       // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr uint8_t kGsoUdp = 3;         // VIRTIO_NET_HDR_GSO_UDP
inline constexpr uint8_t kGsoTcpV6 = 4;       // VIRTIO_NET_HDR_GSO_TCPV6
inline constexpr uint8_t kGsoEcn = 0x80;      // VIRTIO_NET_HDR_GSO_ECN

// struct virtio_net_hdr_v1 (little-endian fields; x86 is little-endian).
struct NetHeader {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint16_t num_buffers = 0;
};
static_assert(sizeof(NetHeader) == 12);

}  // namespace flotilla::vmm::virtio::net_abi
