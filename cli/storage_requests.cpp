#include "cli/storage_requests.h"

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace flotilla::cli {
namespace {

using nlohmann::json;

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

std::string target(const char* collection, std::string_view name_or_id) {
  return std::string(collection) + "/" + encode_path_segment(name_or_id);
}

}  // namespace

Result<std::uint64_t, UsageError> parse_size(std::string_view text) {
  const UsageError bad{"size '" + std::string(text) +
                       "': expected bytes or a number with K, M, G or T (binary units)"};
  size_t i = 0;
  std::uint64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (n > (UINT64_MAX - digit) / 10) return fail(bad);
    n = n * 10 + digit;
    ++i;
  }
  if (i == 0) return fail(bad);
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else {
    return fail(bad);
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) return fail(bad);
  return n << shift;
}

HttpRequest pool_create_request(const PoolCreateArgs& a) {
  json body = {{"name", a.name}, {"type", a.type}, {"path", absolute(a.path)}};
  if (a.size_bytes) body["size_bytes"] = *a.size_bytes;
  return make_request("POST", "/v1/pools", body.dump());
}
HttpRequest pool_list_request() {
  return make_request("GET", "/v1/pools");
}
HttpRequest pool_show_request(std::string_view name_or_id) {
  return make_request("GET", target("/v1/pools", name_or_id));
}
HttpRequest pool_delete_request(std::string_view name_or_id) {
  return make_request("DELETE", target("/v1/pools", name_or_id));
}

HttpRequest disk_create_request(const DiskCreateArgs& a) {
  json body = {
      {"name", a.name}, {"pool", a.pool}, {"size_bytes", a.size_bytes}, {"format", a.format}};
  if (a.backing) body["backing"] = *a.backing;
  return make_request("POST", "/v1/disks", body.dump());
}
HttpRequest disk_list_request() {
  return make_request("GET", "/v1/disks");
}
HttpRequest disk_show_request(std::string_view name_or_id) {
  return make_request("GET", target("/v1/disks", name_or_id));
}
HttpRequest disk_resize_request(std::string_view name_or_id, std::uint64_t size_bytes) {
  return make_request("PATCH", target("/v1/disks", name_or_id),
                      json{{"size_bytes", size_bytes}}.dump());
}
HttpRequest disk_delete_request(std::string_view name_or_id) {
  return make_request("DELETE", target("/v1/disks", name_or_id));
}

HttpRequest disk_import_request(const DiskImportArgs& a) {
  json body = {{"name", a.name}, {"pool", a.pool}, {"source_path", absolute(a.source_path)}};
  if (a.format) body["format"] = *a.format;
  return make_request("POST", "/v1/disks/import", body.dump());
}

HttpRequest vm_disk_attach_request(std::string_view vm, std::string_view disk, bool read_only) {
  return make_request("POST", target("/v1/vms", vm) + "/disks",
                      json{{"disk", std::string(disk)}, {"read_only", read_only}}.dump());
}
HttpRequest vm_disk_detach_request(std::string_view vm, std::string_view disk) {
  return make_request("DELETE", target("/v1/vms", vm) + "/disks/" + encode_path_segment(disk));
}

}  // namespace flotilla::cli
