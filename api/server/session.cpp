// The socket-free helpers of HttpSession: read errors → responses, Beast ↔ ApiRequest.
#include "api/server/session.h"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace flotilla::api::server {

std::optional<ApiError> read_error_response(const beast::error_code& ec) {
  if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
    return api_error(ApiErrc::payload_too_large, "request body over the server's limit");
  }
  if (ec == http::error::header_limit) {
    return api_error(ApiErrc::bad_request, "request headers over the server's limit");
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return std::nullopt;  // the client went away (between or in the middle of requests)
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
    return api_error(ApiErrc::bad_request, "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;  // timeouts, resets, cancellation: nothing sensible to answer
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

ApiRequest to_api_request(http::request<http::string_body>&& req, Transport transport) {
  ApiRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& field : req) {
    r.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  r.body = std::move(req.body());
  r.transport = transport;
  return r;
}

void fill_http_response(OutgoingResponse& out, ApiResponse&& r, unsigned version, bool keep_alive) {
  auto& res = out.message;
  res.result(static_cast<http::status>(r.status));
  res.version(version);
  res.set(http::field::server, "flotillad");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  res.set("X-Request-Id", r.request_id);
  for (auto& [name, value] : r.headers) res.set(name, value);
  if (r.shared_body) {
    out.shared = std::move(r.shared_body);
  } else {
    out.owned = std::move(r.body);
  }
  const std::string& bytes = out.shared ? *out.shared : out.owned;
  res.body() = http::span_body<const char>::value_type(bytes.data(), bytes.size());
  res.keep_alive(keep_alive);
  res.prepare_payload();
}

}  // namespace flotilla::api::server
