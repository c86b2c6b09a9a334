// Addresses a network hands out: IPv4 CIDR ranges, MAC addresses from Flotilla's locally
// administered prefix, and the choice of the next free address in a range. Pure logic: the
// state store keeps what is taken, these functions choose.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include "network/error.h"

namespace flotilla::network {

struct Ipv4Cidr {
  uint32_t address = 0;  // host byte order; may have host bits set ("10.0.0.1/24")
  uint8_t prefix = 0;    // 0..32

  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t network() const { return address & mask(); }
  uint32_t broadcast() const { return network() | ~mask(); }
  bool contains(uint32_t ip) const { return (ip & mask()) == network(); }
  std::string to_string() const;  // "10.0.0.1/24"
};

// "a.b.c.d/n" with 8 ≤ n ≤ 30 (a range must hold at least two hosts); strict dotted quad.
NetResult<Ipv4Cidr> parse_cidr(std::string_view text);
NetResult<uint32_t> parse_ipv4(std::string_view text);
std::string ipv4_to_string(uint32_t ip);
bool ranges_overlap(const Ipv4Cidr& a, const Ipv4Cidr& b);

// The lowest address of the range that is neither the network nor the broadcast address, nor
// reserved (the bridge's own address), nor taken; nullopt when the range is full.
std::optional<uint32_t> next_free_address(const Ipv4Cidr& range, const std::set<uint32_t>& taken,
                                          std::optional<uint32_t> reserved);

struct MacAddress {
  std::array<uint8_t, 6> bytes{};

  bool multicast() const { return (bytes[0] & 0x01) != 0; }
  bool locally_administered() const { return (bytes[0] & 0x02) != 0; }
  bool zero() const;
  std::string to_string() const;  // "02:f1:0a:12:34:56"
  auto operator<=>(const MacAddress&) const = default;
};

// "aa:bb:cc:dd:ee:ff" (case-insensitive); refuses multicast and all-zero addresses.
NetResult<MacAddress> parse_unicast_mac(std::string_view text);

// Flotilla's prefix: 02:f1:0a (locally administered, unicast). The last three bytes are random,
// retried until unused; nullopt only when the 2^24 space is exhausted in practice.
inline constexpr std::array<uint8_t, 3> kMacPrefix = {0x02, 0xf1, 0x0a};
std::optional<MacAddress> allocate_mac(const std::set<MacAddress>& taken, std::mt19937_64& rng);

}  // namespace flotilla::network
