// parse_token_create: the POST /v1/tokens body.
#include "api/parsing/field_reader.h"
#include "api/request_parsing.h"

namespace flotilla::api {

using namespace parsing;  // NOLINT: the readers are this file's vocabulary

namespace {

Status read_role(const Json& v, storage::Role& role) {
  const char* kAllowed = "must be one of viewer, helpdesk, operator, admin";
  if (!v.is_string()) return invalid("role", kAllowed);
  const auto& s = v.get_ref<const std::string&>();
  // "operator" on the wire; the enum spells it operator_ (a C++ keyword otherwise).
  auto r = storage::role_from_string(s);
  if (!r || s == "operator_") return invalid("role", kAllowed);
  role = *r;
  return std::nullopt;
}

Status apply_token_fields(const Json& j, TokenCreateRequest& req) {
  if (!j.is_object()) return api_error(ApiErrc::validation_failed, "body must be a JSON object");
  FLT_RETURN_IF_ERROR(check_keys(j, "", {"name", "role", "expires_in_seconds"}));
  auto name = j.find("name");
  if (name == j.end()) return invalid("name", "is required");
  FLT_RETURN_IF_ERROR(read_name(*name, "name", req.name));
  auto role = j.find("role");
  if (role == j.end()) return invalid("role", "is required");
  FLT_RETURN_IF_ERROR(read_role(*role, req.role));
  if (auto it = j.find("expires_in_seconds"); it != j.end() && !it->is_null()) {
    uint64_t secs = 0;
    FLT_RETURN_IF_ERROR(read_uint(*it, "expires_in_seconds", 1,
                                  static_cast<uint64_t>(kMaxTokenLifetimeSeconds), secs));
    req.expires_in_seconds = static_cast<int64_t>(secs);
  }
  return std::nullopt;
}

}  // namespace

ApiResult<TokenCreateRequest> parse_token_create(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  TokenCreateRequest req;
  if (auto s = apply_token_fields(*json, req)) return fail(std::move(*s));
  return req;
}

}  // namespace flotilla::api
