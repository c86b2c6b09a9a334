#include "api/api_types.h"

#include <nlohmann/json.hpp>

#include "api/vm_control.h"

namespace flotilla::api {

std::string_view to_string(ApiErrc c) {
  switch (c) {
    case ApiErrc::invalid_json:
      return "invalid_json";
    case ApiErrc::bad_request:
      return "bad_request";
    case ApiErrc::unauthorized:
      return "unauthorized";
    case ApiErrc::forbidden:
      return "forbidden";
    case ApiErrc::not_found:
      return "not_found";
    case ApiErrc::method_not_allowed:
      return "method_not_allowed";
    case ApiErrc::conflict:
      return "conflict";
    case ApiErrc::invalid_state:
      return "invalid_state";
    case ApiErrc::insufficient_resources:
      return "insufficient_resources";
    case ApiErrc::payload_too_large:
      return "payload_too_large";
    case ApiErrc::unsupported_media_type:
      return "unsupported_media_type";
    case ApiErrc::validation_failed:
      return "validation_failed";
    case ApiErrc::too_many_requests:
      return "too_many_requests";
    case ApiErrc::internal:
      return "internal";
    case ApiErrc::unavailable:
      return "unavailable";
  }
  return "internal";
}

int http_status(ApiErrc c) {
  switch (c) {
    case ApiErrc::invalid_json:
      return 400;
    case ApiErrc::bad_request:
      return 400;
    case ApiErrc::unauthorized:
      return 401;
    case ApiErrc::forbidden:
      return 403;
    case ApiErrc::not_found:
      return 404;
    case ApiErrc::method_not_allowed:
      return 405;
    case ApiErrc::conflict:
      return 409;
    case ApiErrc::invalid_state:
      return 409;
    case ApiErrc::insufficient_resources:
      return 409;
    case ApiErrc::payload_too_large:
      return 413;
    case ApiErrc::unsupported_media_type:
      return 415;
    case ApiErrc::validation_failed:
      return 422;
    case ApiErrc::too_many_requests:
      return 429;
    case ApiErrc::internal:
      return 500;
    case ApiErrc::unavailable:
      return 503;
  }
  return 500;
}

ApiError api_error(ApiErrc code, std::string message, std::string field) {
  return ApiError{code, std::move(message), std::move(field)};
}

std::string_view ApiRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

bool ApiRequest::has_header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return true;
  }
  return false;
}

ApiResponse error_response(const ApiError& e) {
  nlohmann::json err = {{"code", to_string(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  ApiResponse r;
  r.status = http_status(e.code);
  // Messages may quote user input; replace invalid UTF-8 rather than throw.
  r.body =
      nlohmann::json{{"error", err}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace flotilla::api

namespace flotilla::api {

std::string_view to_string(VmAction a) {
  switch (a) {
    case VmAction::start:
      return "start";
    case VmAction::stop:
      return "stop";
    case VmAction::force_stop:
      return "force-stop";
    case VmAction::pause:
      return "pause";
    case VmAction::resume:
      return "resume";
    case VmAction::reboot:
      return "reboot";
  }
  return "unknown";
}

}  // namespace flotilla::api
