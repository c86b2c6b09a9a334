// Command arguments → REST requests (THE REST v1 contract in team/TEAM.md). Pure functions: no
// sockets, no globals, so unit tests can pin the mapping down.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli/http_client.h"
#include "common/result.h"

namespace flotilla::cli {

struct UsageError {
  std::string message;
};

struct VmCreateArgs {
  std::optional<std::string> name;
  std::optional<std::string> kernel;
  std::optional<std::string> initrd;
  std::optional<std::string> cmdline;
  std::optional<std::string> restart;
  std::optional<std::int64_t> vcpus;
  std::optional<std::int64_t> memory_mib;
  // The text of --from-json (file or stdin): a create body that the flags above override.
  std::optional<std::string> from_json;
};

struct TokenCreateArgs {
  std::string name;
  std::string role;
  std::optional<std::int64_t> expires_in_seconds;
};

HttpRequest vm_list_request();
HttpRequest vm_show_request(std::string_view name_or_id);
// Relative --kernel/--initrd paths are made absolute against the current directory, because
// the daemon resolves them in its own working directory.
Result<HttpRequest, UsageError> vm_create_request(const VmCreateArgs& args);
HttpRequest vm_delete_request(std::string_view name_or_id);
HttpRequest host_request();
HttpRequest token_create_request(const TokenCreateArgs& args);
HttpRequest token_list_request();
HttpRequest token_revoke_request(std::string_view id);

}  // namespace flotilla::cli
