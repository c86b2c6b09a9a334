// Pools and disks: command arguments → REST requests (STORAGE.md). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli/http_client.h"
#include "cli/requests.h"
#include "common/result.h"

namespace flotilla::cli {

// "1048576", "512K", "64M", "10G", "1T" (binary units, optional trailing "iB"/"B") → bytes.
Result<std::uint64_t, UsageError> parse_size(std::string_view text);

struct PoolCreateArgs {
  std::string name;
  std::string type;  // dir | partitioned
  std::string path;  // made absolute against the current directory
  std::optional<std::uint64_t> size_bytes;
};
HttpRequest pool_create_request(const PoolCreateArgs& args);
HttpRequest pool_list_request();
HttpRequest pool_show_request(std::string_view name_or_id);
HttpRequest pool_delete_request(std::string_view name_or_id);

struct DiskCreateArgs {
  std::string name;
  std::string pool;
  std::uint64_t size_bytes = 0;
  std::string format = "raw";
  std::optional<std::string> backing;
};
HttpRequest disk_create_request(const DiskCreateArgs& args);
HttpRequest disk_list_request();
HttpRequest disk_show_request(std::string_view name_or_id);
HttpRequest disk_resize_request(std::string_view name_or_id, std::uint64_t size_bytes);
HttpRequest disk_delete_request(std::string_view name_or_id);

struct DiskImportArgs {
  std::string name;
  std::string pool;
  std::string source_path;  // made absolute
  std::optional<std::string> format;
};
HttpRequest disk_import_request(const DiskImportArgs& args);

HttpRequest vm_disk_attach_request(std::string_view vm, std::string_view disk, bool read_only);
HttpRequest vm_disk_detach_request(std::string_view vm, std::string_view disk);

}  // namespace flotilla::cli
