#include "cli/requests.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace flotilla::cli {
namespace {

using nlohmann::json;

std::string vm_target(std::string_view name_or_id) {
  return "/v1/vms/" + encode_path_segment(name_or_id);
}

std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

Result<json, UsageError> parse_body(const std::string& text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return fail(UsageError{"--from-json: not valid JSON"});
  if (!body.is_object()) return fail(UsageError{"--from-json: expected a JSON object"});
  return body;
}

// Sets body[outer][inner], creating or keeping the "boot" object; a non-object there is left
// for the server to reject, so its message names the field.
void set_nested(json& body, const char* outer, const char* inner, json value) {
  if (!body.contains(outer)) body[outer] = json::object();
  if (body[outer].is_object()) body[outer][inner] = std::move(value);
}

}  // namespace

HttpRequest vm_list_request() {
  return make_request("GET", "/v1/vms");
}

HttpRequest vm_show_request(std::string_view name_or_id) {
  return make_request("GET", vm_target(name_or_id));
}

Result<HttpRequest, UsageError> vm_create_request(const VmCreateArgs& args) {
  json body = json::object();
  if (args.from_json) {
    auto parsed = parse_body(*args.from_json);
    if (!parsed) return fail(parsed.error());
    body = std::move(*parsed);
  } else {
    if (!args.name) return fail(UsageError{"vm create needs NAME (or --from-json)"});
    if (!args.kernel) return fail(UsageError{"vm create needs --kernel PATH (or --from-json)"});
  }
  if (args.name) body["name"] = *args.name;
  if (args.vcpus) body["vcpus"] = *args.vcpus;
  if (args.memory_mib) body["memory_mib"] = *args.memory_mib;
  if (args.kernel) set_nested(body, "boot", "kernel", absolute(*args.kernel));
  if (args.initrd) set_nested(body, "boot", "initrd", absolute(*args.initrd));
  if (args.cmdline) set_nested(body, "boot", "cmdline", *args.cmdline);
  if (args.restart) body["restart"] = *args.restart;
  if (auto r = apply_policy(args.policy, body); !r) return fail(r.error());
  // Invalid UTF-8 (from a file or an argument) is replaced rather than thrown on; the server
  // sees U+FFFD and its validation names the field.
  return make_request("POST", "/v1/vms", body.dump(-1, ' ', false, json::error_handler_t::replace));
}

HttpRequest vm_delete_request(std::string_view name_or_id) {
  return make_request("DELETE", vm_target(name_or_id));
}

HttpRequest host_request() {
  return make_request("GET", "/v1/host");
}

HttpRequest token_create_request(const TokenCreateArgs& args) {
  json body = {{"name", args.name}, {"role", args.role}};
  if (args.expires_in_seconds) body["expires_in_seconds"] = *args.expires_in_seconds;
  return make_request("POST", "/v1/tokens",
                      body.dump(-1, ' ', false, json::error_handler_t::replace));
}

HttpRequest token_list_request() {
  return make_request("GET", "/v1/tokens");
}

HttpRequest token_revoke_request(std::string_view id) {
  return make_request("DELETE", "/v1/tokens/" + encode_path_segment(id));
}

HttpRequest vm_action_request(std::string_view name_or_id, std::string_view action,
                              std::optional<std::int64_t> stop_timeout_seconds) {
  std::string target = vm_target(name_or_id) + "/" + std::string(action);
  if (stop_timeout_seconds && action == "stop") {
    target += "?timeout_seconds=" + std::to_string(*stop_timeout_seconds);
  }
  return make_request("POST", std::move(target));
}

HttpRequest operation_request(std::string_view id) {
  return make_request("GET", "/v1/operations/" + encode_path_segment(id));
}

HttpRequest vm_stats_request(std::string_view name_or_id) {
  return make_request("GET", vm_target(name_or_id) + "/stats");
}

HttpRequest console_tail_request(std::string_view name_or_id, std::optional<std::int64_t> bytes) {
  std::string target = vm_target(name_or_id) + "/console";
  if (bytes) target += "?bytes=" + std::to_string(*bytes);
  return make_request("GET", std::move(target));
}

HttpRequest console_ws_request(std::string_view name_or_id, bool read_only) {
  return make_request("GET",
                      vm_target(name_or_id) + "/console/ws" + (read_only ? "?mode=read" : ""));
}

std::string progress_bar(int percent, std::string_view kind, int width) {
  percent = std::clamp(percent, 0, 100);
  width = std::max(width, 1);
  const int filled = percent * width / 100;
  std::string bar = "[";
  for (int i = 0; i < width; ++i) {
    if (i < filled - 1 || (i == filled - 1 && percent == 100)) {
      bar += '=';
    } else if (i == filled - 1) {
      bar += '>';
    } else {
      bar += ' ';
    }
  }
  bar += "] " + std::to_string(percent) + "% " + std::string(kind);
  return bar;
}

}  // namespace flotilla::cli
