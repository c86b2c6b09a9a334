// /v1/vms/{id}/console: the guest's recent console output (REST) and the interactive console
// (WebSocket upgrade; the transport in api/server relays bytes to the monitor).
#include <charconv>

#include "api/routes/route_table.h"

namespace flotilla::api::routes {

namespace {

constexpr size_t kDefaultTailBytes = 16384;
constexpr size_t kMaxTailBytes = 65536;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of one query component ('+' is a space, as in forms); nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// "websocket" among the comma-separated tokens of the Upgrade header.
bool wants_websocket(std::string_view upgrade) {
  while (!upgrade.empty()) {
    const size_t comma = upgrade.find(',');
    std::string_view item = upgrade.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, "websocket")) return true;
    if (comma == std::string_view::npos) break;
    upgrade.remove_prefix(comma + 1);
  }
  return false;
}

ApiResult<ApiResponse> console_tail(RequestContext& ctx) {
  size_t bytes = kDefaultTailBytes;
  if (auto text = query_param(ctx.request.target, "bytes")) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size() || n < 1 || n > kMaxTailBytes) {
      return fail(api_error(ApiErrc::validation_failed,
                            "bytes: must be an integer from 1 to " + std::to_string(kMaxTailBytes),
                            "bytes"));
    }
    bytes = n;
  }
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  if (ctx.deps.vms == nullptr) {
    return fail(api_error(ApiErrc::unavailable, "this server does not run guests"));
  }
  auto data = ctx.deps.vms->console_tail(*vm, bytes);
  if (!data) return fail(data.error());
  const size_t n = data->size();
  return json_response(200, {{"data", std::move(*data)}, {"bytes", n}});
}

ApiResult<ApiResponse> console_ws(RequestContext& ctx) {
  if (!wants_websocket(ctx.request.header("upgrade"))) {
    return fail(api_error(ApiErrc::bad_request,
                          "this route needs a WebSocket upgrade request (Upgrade: websocket)",
                          "Upgrade"));
  }
  bool read_only = false;
  if (auto mode = query_param(ctx.request.target, "mode")) {
    if (*mode == "read") {
      read_only = true;
    } else if (*mode != "write") {
      return fail(api_error(ApiErrc::validation_failed, "mode: must be 'read' or 'write'", "mode"));
    }
  }
  auto vm = resolve_vm(ctx, ctx.params[0]);
  if (!vm) return fail(vm.error());
  ctx.audit_target = vm->id;
  if (ctx.deps.vms == nullptr) {
    return fail(api_error(ApiErrc::unavailable, "this server does not run guests"));
  }
  auto socket = ctx.deps.vms->control_socket(*vm);
  if (!socket) return fail(socket.error());
  // The helpdesk role watches; operators and admins may type unless they asked to watch.
  const bool may_write =
      !read_only && ctx.token && role_allows(ctx.token->role, RouteClass::manage);
  ApiResponse r;
  r.status = 101;
  r.content_type.clear();
  r.upgrade = ConsoleUpgrade{vm->id, std::move(*socket), may_write};
  return r;
}

}  // namespace

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  const size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    if (auto decoded = percent_decode(key); decoded && *decoded == name) {
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      // A value that does not decode is returned as sent, so the caller's check names it.
      return percent_decode(value).value_or(std::string(value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

void add_console_routes(RouteTable& t) {
  t.push_back({{"GET", std::string(kConsoleRoute), RouteClass::console}, "", false, console_tail});
  // Attaching is audited: who watched or typed on which guest's console.
  t.push_back({{"GET", std::string(kConsoleWsRoute), RouteClass::console},
               "vm.console",
               false,
               console_ws});
}

}  // namespace flotilla::api::routes
