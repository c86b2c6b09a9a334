#include "network/addresses.h"

#include <charconv>
#include <cstdio>

namespace flotilla::network {
namespace {

bool parse_number(std::string_view text, unsigned max, unsigned& out) {
  if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

NetResult<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t ip = 0;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = rest.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) break;
    unsigned octet = 0;
    if (!parse_number(rest.substr(0, dot), 255, octet)) break;
    ip = (ip << 8) | octet;
    if (i == 3) return ip;
    rest = rest.substr(dot + 1);
  }
  return net_error(NetErrc::kInvalid,
                   "\"" + std::string(text) + "\" is not an IPv4 address (a.b.c.d)");
}

NetResult<Ipv4Cidr> parse_cidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (slash == std::string_view::npos) {
    return net_error(NetErrc::kInvalid, quoted + " is not a CIDR range (a.b.c.d/n)");
  }
  auto ip = parse_ipv4(text.substr(0, slash));
  if (!ip) return net_error(NetErrc::kInvalid, quoted + ": " + ip.error().message);
  unsigned prefix = 0;
  if (!parse_number(text.substr(slash + 1), 32, prefix)) {
    return net_error(NetErrc::kInvalid, quoted + ": the prefix length must be 0..32");
  }
  if (prefix < 8 || prefix > 30) {
    return net_error(NetErrc::kInvalid,
                     quoted + ": the prefix length must be 8..30 (a range holds guests)");
  }
  return Ipv4Cidr{*ip, static_cast<uint8_t>(prefix)};
}

std::string ipv4_to_string(uint32_t ip) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                ip & 0xff);
  return buffer;
}

std::string Ipv4Cidr::to_string() const {
  return ipv4_to_string(address) + "/" + std::to_string(prefix);
}

bool ranges_overlap(const Ipv4Cidr& a, const Ipv4Cidr& b) {
  return a.network() <= b.broadcast() && b.network() <= a.broadcast();
}

std::optional<uint32_t> next_free_address(const Ipv4Cidr& range, const std::set<uint32_t>& taken,
                                          std::optional<uint32_t> reserved) {
  for (uint32_t ip = range.network() + 1; ip < range.broadcast(); ++ip) {
    if (ip != reserved && !taken.contains(ip)) return ip;
  }
  return std::nullopt;
}

bool MacAddress::zero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string MacAddress::to_string() const {
  char buffer[18];
  std::snprintf(buffer, sizeof buffer, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1],
                bytes[2], bytes[3], bytes[4], bytes[5]);
  return buffer;
}

NetResult<MacAddress> parse_unicast_mac(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  MacAddress mac;
  if (text.size() != 17) {
    return net_error(NetErrc::kInvalid, quoted + " is not a MAC address (aa:bb:cc:dd:ee:ff)");
  }
  for (size_t i = 0; i < 6; ++i) {
    const int hi = hex_digit(text[i * 3]);
    const int lo = hex_digit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      return net_error(NetErrc::kInvalid, quoted + " is not a MAC address (aa:bb:cc:dd:ee:ff)");
    }
    mac.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  if (mac.multicast()) {
    return net_error(NetErrc::kInvalid, quoted + " is a multicast address; a NIC needs unicast");
  }
  if (mac.zero()) return net_error(NetErrc::kInvalid, quoted + " is the all-zero address");
  return mac;
}

std::optional<MacAddress> allocate_mac(const std::set<MacAddress>& taken, std::mt19937_64& rng) {
  for (int attempt = 0; attempt < 1024; ++attempt) {
    const uint64_t r = rng();
    MacAddress mac{{kMacPrefix[0], kMacPrefix[1], kMacPrefix[2], static_cast<uint8_t>(r >> 16),
                    static_cast<uint8_t>(r >> 8), static_cast<uint8_t>(r)}};
    if (!taken.contains(mac)) return mac;
  }
  return std::nullopt;
}

}  // namespace flotilla::network
