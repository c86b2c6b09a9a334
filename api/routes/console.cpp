// /v1/vms/{id}/console: the guest's recent console output (REST) and the interactive console
// (WebSocket upgrade; the transport in api/server relays bytes to the monitor).
#include "api/request_parsing.h"
#include "api/routes/route_table.h"

namespace flotilla::api::routes {

namespace {

constexpr int64_t kDefaultTailBytes = 16384;
constexpr int64_t kMaxTailBytes = 65536;

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
  auto asked = query_int(ctx.request.target, "bytes", 1, kMaxTailBytes);
  if (!asked) return fail(asked.error());
  const size_t bytes = asked->value_or(kDefaultTailBytes);
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
  auto mode = query_param(ctx.request.target, "mode");
  if (!mode) return fail(mode.error());
  if (*mode) {
    if (**mode == "read") {
      read_only = true;
    } else if (**mode != "write") {
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

void add_console_routes(RouteTable& t) {
  t.push_back({{"GET", std::string(kConsoleRoute), RouteClass::console}, "", false, console_tail});
  // Attaching is audited: who watched or typed on which guest's console.
  t.push_back({{"GET", std::string(kConsoleWsRoute), RouteClass::console},
               "vm.console",
               false,
               console_ws});
}

}  // namespace flotilla::api::routes
