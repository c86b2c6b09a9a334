// Pure request parsing and validation: bytes in, typed values or an ApiError out. No sockets,
// no store, no exceptions leave these functions (nlohmann's are caught inside). The libFuzzer
// target (tests/fuzz/) and the route files call exactly these; keep the signatures stable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/api_types.h"
#include "storage/model.h"

namespace flotilla::api {

inline constexpr size_t kMaxJsonDepth = 32;  // deeper bodies are refused before parsing
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr uint32_t kMaxVcpus = 64;
inline constexpr uint64_t kMinMemoryMib = 16;
inline constexpr uint64_t kMaxMemoryMib = 1048576;
inline constexpr size_t kMaxDisks = 16;
inline constexpr size_t kMaxNics = 16;
inline constexpr uint32_t kMaxWeight = 10000;
inline constexpr uint32_t kMaxCapPercent = 6400;
inline constexpr uint32_t kMaxDedicatedCores = 1024;
inline constexpr int64_t kMaxTokenLifetimeSeconds = 10LL * 366 * 24 * 3600;

// Parses a JSON body: invalid_json for syntax errors, invalid UTF-8 or raw control bytes;
// bad_request for nesting deeper than kMaxJsonDepth. Never throws.
ApiResult<nlohmann::json> parse_json_body(std::string_view body);

// True for names matching [a-z0-9][a-z0-9-]{0,62} (VMs, networks, tokens).
bool is_valid_name(std::string_view name);

// POST /v1/vms body → a complete VmSpec (defaults for absent optional fields).
ApiResult<storage::VmSpec> parse_vm_create(std::string_view body);

// PATCH /v1/vms/{id} body applied to the current spec: present fields replace, nested objects
// (boot, cpu, memory) merge field by field, arrays (disks, nics) are replaced whole.
ApiResult<storage::VmSpec> apply_vm_patch(const storage::VmSpec& current, std::string_view body);

// POST /v1/tokens body.
struct TokenCreateRequest {
  std::string name;
  storage::Role role = storage::Role::viewer;
  std::optional<int64_t> expires_in_seconds;  // absent: never expires
};
ApiResult<TokenCreateRequest> parse_token_create(std::string_view body);

// Pools and disks (STORAGE.md). Sizes are bytes, 1..kMaxDiskBytes; references to a pool or a
// disk are an id or a name.
inline constexpr uint64_t kMaxDiskBytes = 1ULL << 50;

struct PoolCreateRequest {
  std::string name;
  storage::PoolType type = storage::PoolType::dir;
  std::string path;
  uint64_t size_bytes = 0;  // 0: not given
};
ApiResult<PoolCreateRequest> parse_pool_create(std::string_view body);

struct DiskCreateRequest {
  std::string name;
  std::string pool;  // id or name
  uint64_t size_bytes = 0;
  std::string format = "raw";
  std::string backing;  // id or name, "" for none
};
ApiResult<DiskCreateRequest> parse_disk_create(std::string_view body);

// PATCH /v1/disks/{id}: {"size_bytes"} (the only field that may change).
ApiResult<uint64_t> parse_disk_patch(std::string_view body);

struct DiskImportRequest {
  std::string name;
  std::string pool;
  std::string source_path;
  std::string format;  // "" = the source's format
};
ApiResult<DiskImportRequest> parse_disk_import(std::string_view body);

struct DiskAttachRequest {
  std::string disk;  // id or name
  bool read_only = false;
};
ApiResult<DiskAttachRequest> parse_disk_attach(std::string_view body);

// Networks and NICs (team/NETWORK.md). Limits are per second, 0 = unlimited, at most
// kMaxNicRate.
inline constexpr uint64_t kMaxNicRate = 1ULL << 50;
struct NetworkCreateRequest {
  std::string name;
  std::string cidr;    // syntax checked by the network manager (422 naming "cidr")
  std::string bridge;  // "" = flb-<id>
  storage::NetworkMode mode = storage::NetworkMode::isolated;
  std::string uplink_interface;
};
ApiResult<NetworkCreateRequest> parse_network_create(std::string_view body);
// POST /v1/vms/{id}/nics: one NIC as in the VM body ({"network","mac","ip","limits"}).
ApiResult<storage::NicAttachment> parse_nic_attach(std::string_view body);
// PATCH /v1/vms/{id}/nics/{index}: {"limits":{"rx":{..},"tx":{..}}}; a direction or a field left
// out keeps its current value.
ApiResult<storage::NicLimits> parse_nic_patch(const storage::NicLimits& current,
                                              std::string_view body);

// The If-Match header of PATCH: "\"<generation>\"" or a bare number; nullopt if absent.
ApiResult<std::optional<uint64_t>> parse_if_match(std::string_view header_value);

// Content-Type acceptable for a JSON body ("application/json", any charset=utf-8 parameter).
bool is_json_content_type(std::string_view content_type);

}  // namespace flotilla::api

namespace flotilla::api {

// The value of query parameter `key` in a request target ("/p?a=1&b=x"), percent-decoded, or
// nullopt when absent. A key given twice is a bad_request (ambiguous).
ApiResult<std::optional<std::string>> query_param(std::string_view target, std::string_view key);
// An integer query parameter in [min, max] (422 validation_failed naming it otherwise).
ApiResult<std::optional<int64_t>> query_int(std::string_view target, std::string_view key,
                                            int64_t min, int64_t max);

}  // namespace flotilla::api
