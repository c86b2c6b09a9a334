#include "vmm/monitor/nic_config.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "network/links.h"

namespace flotilla::vmm {
namespace {

Unexpected<VmmError> config_error(const std::string& m) {
  return vmm_fail(VmmErrc::kConfig, m);
}

bool parse_u64(const std::string& text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

VmmResult<virtio::RateLimit> parse_rate_limit_json(const nlohmann::json& j,
                                                   const std::string& where) {
  if (!j.is_object()) return config_error(where + " must be an object");
  virtio::RateLimit limit;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const nlohmann::json& v = it.value();
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      return config_error(where + "." + it.key() + " must be a non-negative integer");
    }
    if (it.key() == "bytes_per_sec") {
      limit.bytes_per_sec = v.get<uint64_t>();
    } else if (it.key() == "packets_per_sec") {
      limit.packets_per_sec = v.get<uint64_t>();
    } else {
      return config_error("unknown key " + where + "." + it.key());
    }
  }
  return limit;
}

nlohmann::json rate_limit_json(const virtio::RateLimit& limit) {
  return {{"bytes_per_sec", limit.bytes_per_sec}, {"packets_per_sec", limit.packets_per_sec}};
}

VmmResult<NicConfig> parse_nic_json(const nlohmann::json& j, size_t index) {
  const std::string at = "nics[" + std::to_string(index) + "]";
  if (!j.is_object()) return config_error(at + " must be an object");
  NicConfig nic;
  bool have_mac = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string where = at + "." + it.key();
    const nlohmann::json& v = it.value();
    if (it.key() == "tap" || it.key() == "mac") {
      if (!v.is_string()) return config_error(where + " must be a string");
    }
    if (it.key() == "tap") {
      nic.tap = v.get<std::string>();
    } else if (it.key() == "mac") {
      auto mac = network::parse_unicast_mac(v.get<std::string>());
      if (!mac) return config_error(where + ": " + mac.error().message);
      nic.mac = *mac;
      have_mac = true;
    } else if (it.key() == "rx" || it.key() == "tx") {
      auto limit = parse_rate_limit_json(v, where);
      if (!limit) return fail(limit.error());
      (it.key() == "rx" ? nic.rx : nic.tx) = *limit;
    } else {
      return config_error("unknown key " + where);
    }
  }
  if (nic.tap.empty()) return config_error(at + ".tap is required");
  if (!have_mac) return config_error(at + ".mac is required");
  return nic;
}

VmmResult<NicConfig> parse_nic_flag(const std::string& text) {
  NicConfig nic;
  bool have_mac = false;
  size_t start = 0;
  for (bool first = true; start <= text.size(); first = false) {
    const size_t comma = text.find(',', start);
    const std::string part =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (first) {
      nic.tap = part;
      continue;
    }
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
    uint64_t number = 0;
    if (key == "mac") {
      auto mac = network::parse_unicast_mac(value);
      if (!mac) return config_error("--nic " + text + ": " + mac.error().message);
      nic.mac = *mac;
      have_mac = true;
    } else if ((key == "rx_bytes" || key == "rx_packets" || key == "tx_bytes" ||
                key == "tx_packets") &&
               parse_u64(value, number)) {
      virtio::RateLimit& limit = key[0] == 'r' ? nic.rx : nic.tx;
      (key.ends_with("bytes") ? limit.bytes_per_sec : limit.packets_per_sec) = number;
    } else {
      return config_error("--nic " + text + ": bad option \"" + part +
                          "\" (mac=MAC, rx_bytes=N, rx_packets=N, tx_bytes=N, tx_packets=N)");
    }
  }
  if (nic.tap.empty()) return config_error("--nic needs a TAP name");
  if (!have_mac) return config_error("--nic " + text + ": mac=MAC is required");
  return nic;
}

VmmResult<void> validate_nics(const std::vector<NicConfig>& nics) {
  if (nics.size() > kMaxNics) {
    return config_error("at most " + std::to_string(kMaxNics) + " NICs (got " +
                        std::to_string(nics.size()) + ")");
  }
  std::set<network::MacAddress> macs;
  std::set<std::string> taps;
  for (size_t i = 0; i < nics.size(); ++i) {
    const NicConfig& n = nics[i];
    const std::string at = "nic " + std::to_string(i) + " (" + n.tap + "): ";
    if (!macs.insert(n.mac).second)
      return config_error(at + "MAC " + n.mac.to_string() + " is used twice");
    if (!taps.insert(n.tap).second) return config_error(at + "TAP is used twice");
    auto tap = network::open_tap(n.tap);  // closed again at once; the machine reopens it
    if (!tap) return config_error(at + tap.error().message);
  }
  return {};
}

}  // namespace flotilla::vmm
