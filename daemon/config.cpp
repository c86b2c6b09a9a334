#include "daemon/config.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace flotilla::daemon {

using nlohmann::json;

namespace {

ConfigError err(std::string m) {
  return ConfigError{std::move(m)};
}

template <class Int>
std::optional<ConfigError> read_int(const json& v, const std::string& key, int64_t lo, int64_t hi,
                                    Int& out) {
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return err(key + ": must be an integer from " + std::to_string(lo) + " to " +
               std::to_string(hi));
  }
  out = static_cast<Int>(v.get<int64_t>());
  return std::nullopt;
}

std::optional<ConfigError> read_str(const json& v, const std::string& key, std::string& out) {
  if (!v.is_string()) return err(key + ": must be a string");
  out = v.get<std::string>();
  return std::nullopt;
}

std::optional<ConfigError> apply_http(const json& h, DaemonConfig& c) {
  if (!h.is_object()) return err("http: must be an object");
  for (const auto& [key, v] : h.items()) {
    const std::string k = "http." + key;
    std::optional<ConfigError> e;
    if (key == "threads")
      e = read_int(v, k, 1, 16, c.http_threads);
    else if (key == "read_timeout_ms")
      e = read_int(v, k, 100, 3600000, c.read_timeout_ms);
    else if (key == "max_connections")
      e = read_int(v, k, 1, 100000, c.max_connections);
    else if (key == "pipeline_limit")
      e = read_int(v, k, 1, 1000, c.pipeline_limit);
    else if (key == "body_limit_bytes")
      e = read_int(v, k, 1024, 64LL << 20, c.body_limit_bytes);
    else if (key == "header_limit_bytes")
      e = read_int(v, k, 1024, 1 << 20, c.header_limit_bytes);
    else if (key == "drain_timeout_ms")
      e = read_int(v, k, 0, 600000, c.drain_timeout_ms);
    else
      e = err(k + ": unknown key");
    if (e) return e;
  }
  return std::nullopt;
}

std::optional<ConfigError> apply_tls(const json& t, DaemonConfig& c) {
  if (!t.is_object()) return err("tls: must be an object");
  for (const auto& [key, v] : t.items()) {
    std::optional<ConfigError> e;
    if (key == "cert")
      e = read_str(v, "tls.cert", c.tls_cert);
    else if (key == "key")
      e = read_str(v, "tls.key", c.tls_key);
    else
      e = err("tls." + key + ": unknown key");
    if (e) return e;
  }
  return std::nullopt;
}

std::optional<ConfigError> apply_scheduler(const json& t, DaemonConfig& c) {
  if (!t.is_object()) return err("scheduler: must be an object");
  for (const auto& [key, v] : t.items()) {
    const std::string k = "scheduler." + key;
    std::optional<ConfigError> e;
    if (key == "cgroup_root") {
      e = read_str(v, k, c.cgroup_root);
    } else if (key == "root_weight") {
      e = read_int(v, k, 0, 10000, c.cgroup_root_weight);
    } else if (key == "memory_overcommit_ratio") {
      if (!v.is_number() || v.get<double>() < 1.0 || v.get<double>() > 100.0) {
        e = err(k + ": must be a number from 1 to 100");
      } else {
        c.memory_overcommit_ratio = v.get<double>();
      }
    } else if (key == "memory_limit_mib") {
      e = read_int(v, k, 0, int64_t{1} << 30, c.memory_limit_mib);
    } else if (key == "min_shared_cores") {
      e = read_int(v, k, 1, 4096, c.min_shared_cores);
    } else {
      e = err(k + ": unknown key");
    }
    if (e) return e;
  }
  return std::nullopt;
}

std::optional<ConfigError> apply_key(const std::string& key, const json& v, DaemonConfig& c) {
  if (key == "state_dir") return read_str(v, key, c.state_dir);
  if (key == "unix_socket") return read_str(v, key, c.unix_socket);
  if (key == "vmm_binary") return read_str(v, key, c.vmm_binary);
  if (key == "log_level") {
    if (auto e = read_str(v, key, c.log_level)) return e;
    if (!is_log_level(c.log_level)) return err("log_level: unknown level '" + c.log_level + "'");
    return std::nullopt;
  }
  if (key == "listen") {
    std::string s;
    if (auto e = read_str(v, key, s)) return e;
    auto l = parse_listen(s);
    if (!l) return l.error();
    std::tie(c.listen_address, c.listen_port) = *l;
    return std::nullopt;
  }
  if (key == "tls") return apply_tls(v, c);
  if (key == "http") return apply_http(v, c);
  if (key == "scheduler") return apply_scheduler(v, c);
  return err(key + ": unknown key");
}

std::optional<ConfigError> check(const DaemonConfig& c) {
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return err("tls: cert and key must be set together");
  }
  if (c.state_dir.empty()) return err("state_dir: must not be empty");
  if (c.cgroup_root.empty() || c.cgroup_root[0] == '.' ||
      c.cgroup_root.find('/') != std::string::npos) {
    return err("scheduler.cgroup_root: must be one folder name (no '/', not starting with '.')");
  }
  return std::nullopt;
}

}  // namespace

bool is_log_level(std::string_view s) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (s == l) return true;
  }
  return false;
}

Result<std::pair<std::string, uint16_t>, ConfigError> parse_listen(std::string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(err("listen: expected ADDR:PORT, got '" + std::string(s) + "'"));
  }
  std::string_view addr = s.substr(0, colon);
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
    addr = addr.substr(1, addr.size() - 2);
  }
  const std::string_view port_text = s.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return fail(err("listen: bad port in '" + std::string(s) + "'"));
  }
  return std::pair<std::string, uint16_t>{std::string(addr), static_cast<uint16_t>(port)};
}

Result<DaemonConfig, ConfigError> parse_config_json(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return fail(err("config is not valid JSON"));
  if (!j.is_object()) return fail(err("config must be a JSON object"));
  DaemonConfig c;
  for (const auto& [key, v] : j.items()) {
    if (auto e = apply_key(key, v, c)) return fail(*e);
  }
  if (auto e = check(c)) return fail(*e);
  return c;
}

Result<DaemonConfig, ConfigError> load_config(const ConfigOverrides& o) {
  DaemonConfig c;
  if (o.config_file) {
    std::ifstream in(*o.config_file);
    if (!in) return fail(err("cannot read config file " + *o.config_file));
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = parse_config_json(ss.str());
    if (!parsed) return fail(err(*o.config_file + ": " + parsed.error().message));
    c = std::move(parsed).value();
  }
  if (o.state_dir) c.state_dir = *o.state_dir;
  if (o.unix_socket) c.unix_socket = *o.unix_socket;
  if (o.tls_cert) c.tls_cert = *o.tls_cert;
  if (o.tls_key) c.tls_key = *o.tls_key;
  if (o.vmm_binary) c.vmm_binary = *o.vmm_binary;
  if (o.cgroup_root) c.cgroup_root = *o.cgroup_root;
  if (o.log_level) {
    if (!is_log_level(*o.log_level)) return fail(err("--log-level: unknown level"));
    c.log_level = *o.log_level;
  }
  if (o.listen) {
    auto l = parse_listen(*o.listen);
    if (!l) return fail(l.error());
    std::tie(c.listen_address, c.listen_port) = *l;
  }
  if (auto e = check(c)) return fail(*e);
  return c;
}

// Installed, flotilla-vmm sits beside flotillad; in the build tree it is in build/vmm/.
std::string DaemonConfig::resolved_vmm_binary() const {
  if (!vmm_binary.empty()) return vmm_binary;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "flotilla-vmm";
  for (const auto& candidate : {self.parent_path() / "flotilla-vmm",
                                self.parent_path().parent_path() / "vmm" / "flotilla-vmm"}) {
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  }
  return (self.parent_path() / "flotilla-vmm").string();
}

std::string DaemonConfig::unix_socket_path() const {
  if (unix_socket == "none") return {};
  if (unix_socket.empty()) return state_dir + "/run/flotillad.sock";
  return unix_socket;
}

api::ServerOptions DaemonConfig::server_options() const {
  api::ServerOptions o;
  o.listen_address = listen_address;
  o.listen_port = listen_port;
  o.unix_socket_path = unix_socket_path();
  o.tls = {tls_cert, tls_key};
  o.threads = http_threads;
  o.body_limit_bytes = body_limit_bytes;
  o.header_limit_bytes = header_limit_bytes;
  o.read_timeout_ms = read_timeout_ms;
  o.max_connections = max_connections;
  o.pipeline_limit = pipeline_limit;
  o.drain_timeout_ms = drain_timeout_ms;
  return o;
}

}  // namespace flotilla::daemon
