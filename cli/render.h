// API JSON → text for people. Every function tolerates missing or oddly-typed fields (shown
// as "-"), so a newer server never makes the CLI fail to print.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace flotilla::cli {

std::string render_vm_list(const nlohmann::json& list);  // {"items":[VM...]}
std::string render_vm(const nlohmann::json& vm);
std::string render_host(const nlohmann::json& host);
std::string render_token_list(const nlohmann::json& list);  // {"items":[token...]}
std::string render_token(const nlohmann::json& token);      // includes the secret when present
std::string render_operation(const nlohmann::json& op);
// Pools and disks (render_storage.cpp).
std::string render_pool_list(const nlohmann::json& list);  // {"items":[pool...]}
std::string render_pool(const nlohmann::json& pool);
std::string render_disk_list(const nlohmann::json& list);  // {"items":[disk...]}
std::string render_disk(const nlohmann::json& disk);
std::string render_network_list(const nlohmann::json& list);  // {"items":[network...]}
std::string render_network(const nlohmann::json& network);
// Any JSON object as "path: value" lines, nested keys joined with '.' and array items as
// [i] ("exits.io:  12", "vcpus[0]:  running"): for /v1/vms/{id}/stats, whose fields grow.
std::string render_flat(const nlohmann::json& value);

// 1536 → "1.5 KiB"; exact multiples print without decimals ("128 MiB").
std::string format_bytes(std::uint64_t bytes);

}  // namespace flotilla::cli
