// DaemonConfig: everything flotillad can be told, with a default for each (daemon/README.md
// lists the keys). Sources, lowest first: built-in defaults, the JSON config file, the command
// line. SIGHUP re-reads the file and re-applies the same command-line overrides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/server.h"
#include "common/result.h"

namespace flotilla::daemon {

struct ConfigError {
  std::string message;
};

struct DaemonConfig {
  std::string state_dir = "./.state";
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8470;
  std::string unix_socket;  // "" → <state_dir>/run/flotillad.sock; "none" → no Unix listener
  std::string tls_cert;
  std::string tls_key;
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off
  int http_threads = 2;
  int read_timeout_ms = 10000;
  int max_connections = 256;
  int pipeline_limit = 16;
  uint64_t body_limit_bytes = 1024 * 1024;
  uint32_t header_limit_bytes = 16 * 1024;
  int drain_timeout_ms = 10000;
  std::string vmm_binary;  // "" → flotilla-vmm beside flotillad, or in the build tree's vmm/
  // "scheduler": {...} (scheduler/README.md): the cgroup folder VMs go under, the weight of that
  // folder against the host's other tasks (v2 scale, 100 = one nice-0 task), the memory
  // overcommit ratio for shared memory and the cores never dedicated.
  std::string cgroup_root = "flotilla";
  uint32_t cgroup_root_weight = 1000;
  double memory_overcommit_ratio = 1.5;
  uint32_t min_shared_cores = 1;
  uint64_t memory_limit_mib = 0;  // RAM VMs may have in all; 0 = MemTotal minus the host's share

  std::string resolved_vmm_binary() const;

  std::string unix_socket_path() const;  // resolved, "" for none
  api::ServerOptions server_options() const;
};

// Command-line values; set ones override the file.
struct ConfigOverrides {
  std::optional<std::string> config_file;
  std::optional<std::string> state_dir;
  std::optional<std::string> listen;  // "ADDR:PORT", "[v6]:PORT"
  std::optional<std::string> unix_socket;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> log_level;
  std::optional<std::string> vmm_binary;
  std::optional<std::string> cgroup_root;
};

// Parses the JSON config text (unknown keys, wrong types and bad values are errors).
Result<DaemonConfig, ConfigError> parse_config_json(std::string_view text);
// Defaults, then the file named by overrides.config_file (if any), then the overrides.
Result<DaemonConfig, ConfigError> load_config(const ConfigOverrides& overrides);
// "127.0.0.1:8470", "[::1]:0" → address and port.
Result<std::pair<std::string, uint16_t>, ConfigError> parse_listen(std::string_view s);
bool is_log_level(std::string_view s);

}  // namespace flotilla::daemon
