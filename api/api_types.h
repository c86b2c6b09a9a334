// The API's vocabulary, independent of any socket: a request as the router sees it, a response
// as it leaves the router, and the one error type every parser and handler returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace flotilla::api {

// Error codes of the REST contract (TEAM.md). http_status() is the one mapping to HTTP.
enum class ApiErrc {
  invalid_json,            // 400: the body is not JSON (syntax, invalid UTF-8, too deep)
  bad_request,             // 400: the request is malformed outside the body
  unauthorized,            // 401: no, unknown, expired or revoked token
  forbidden,               // 403: the token's role may not do this
  not_found,               // 404: unknown route or id
  method_not_allowed,      // 405: the route exists, the method does not
  conflict,                // 409: name taken, generation mismatch
  invalid_state,           // 409: e.g. the VM is running
  insufficient_resources,  // 409: admission refused (cores, memory, vCPUs); the message says
                           // what is needed and what is left, `field` names the policy field
  payload_too_large,       // 413: body over the limit
  unsupported_media_type,  // 415: a body that is not application/json
  validation_failed,       // 422: well-formed JSON with a wrong field
  too_many_requests,       // 429: pipelining or rate limits
  internal,                // 500: a host fault (never bad input)
  unavailable,             // 503: over the connection cap, shutting down, store unavailable
};
std::string_view to_string(ApiErrc c);
int http_status(ApiErrc c);

struct ApiError {
  ApiErrc code = ApiErrc::internal;
  std::string message;  // human text naming the field
  std::string field;    // JSON path of the offending field ("boot.kernel", "disks[1].path"), or ""
};

template <class T>
using ApiResult = Result<T, ApiError>;

// Shorthand for handlers: return fail(api_error(ApiErrc::..., "...", "field")).
ApiError api_error(ApiErrc code, std::string message, std::string field = {});

// Which listener a request arrived on (the Unix socket is guarded by file permissions, but
// its requests still carry a bearer token).
enum class Transport { tcp, tls, unix_socket, in_process };

// A request after the transport has read it. Header names are lower-case.
struct ApiRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // path plus optional "?query", as sent (never normalised)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Transport transport = Transport::in_process;

  // The first header with this lower-case name, or "" if absent.
  std::string_view header(std::string_view lower_name) const;
  bool has_header(std::string_view lower_name) const;
};

// A console WebSocket the router accepted (status 101): the transport completes the upgrade
// with the original request and relays bytes between the socket and the monitor's console.
struct ConsoleUpgrade {
  std::string vm_id;
  std::string control_socket;  // the monitor's control socket (vmm/README.md, "console")
  bool may_write = false;      // false: read-only (helpdesk role, or ?mode=read)
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;  // empty for 204
  // Set instead of body when the bytes are shared with a cache (GET /v1/vms): the transport
  // writes them without a copy. text() reads whichever is set.
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra: Location, Allow, ETag
  std::string request_id;                                    // sent as X-Request-Id
  std::string route;   // the matched route pattern ("/v1/vms/{id}") or "unmatched"
  bool close = false;  // the transport closes the connection after sending
  std::optional<ConsoleUpgrade> upgrade;  // set only with status 101

  const std::string& text() const { return shared_body ? *shared_body : body; }
};

// The JSON error body of the contract, with status from http_status().
ApiResponse error_response(const ApiError& e);

}  // namespace flotilla::api
