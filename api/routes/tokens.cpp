// /v1/tokens: admins create, list and revoke bearer tokens. The secret is returned only by
// create; the store keeps its SHA-256.
#include "api/request_parsing.h"
#include "api/routes/route_table.h"
#include "common/uuid.h"

namespace flotilla::api::routes {

namespace {

ApiResult<ApiResponse> create_token(RequestContext& ctx) {
  auto req = parse_token_create(ctx.request.body);
  if (!req) return fail(req.error());
  ctx.audit_target = req->name;
  const std::string secret = generate_token();
  const int64_t expires_at =
      req->expires_in_seconds ? ctx.now_ms + *req->expires_in_seconds * 1000 : 0;
  auto rec =
      ctx.deps.store->create_token(req->name, req->role, token_sha256_hex(secret), expires_at);
  if (!rec) {
    if (rec.error().code == storage::StoreErrc::conflict) {
      return fail(api_error(ApiErrc::conflict, "name: '" + req->name + "' is taken", "name"));
    }
    return fail(from_store(rec.error()));
  }
  ctx.audit_target = rec->id;
  nlohmann::json body = token_to_json(*rec);
  body["token"] = secret;
  ApiResponse r = json_response(201, body);
  r.headers.emplace_back("Location", "/v1/tokens/" + rec->id);
  return r;
}

ApiResult<ApiResponse> list_tokens(RequestContext& ctx) {
  auto tokens = ctx.deps.store->list_tokens();
  if (!tokens) return fail(from_store(tokens.error()));
  nlohmann::json items = nlohmann::json::array();
  for (const auto& t : *tokens) items.push_back(token_to_json(t));
  return json_response(200, {{"items", std::move(items)}});
}

ApiResult<ApiResponse> revoke_token(RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  ctx.audit_target = id;
  if (!is_uuid(id)) return fail(api_error(ApiErrc::not_found, "no token '" + id + "'"));
  if (auto r = ctx.deps.store->revoke_token(id); !r) {
    if (r.error().code == storage::StoreErrc::not_found) {
      return fail(api_error(ApiErrc::not_found, "no token '" + id + "'"));
    }
    return fail(from_store(r.error()));
  }
  return no_content();
}

}  // namespace

void add_token_routes(RouteTable& t) {
  t.push_back({{"POST", "/v1/tokens", RouteClass::admin}, "token.create", true, create_token});
  t.push_back({{"GET", "/v1/tokens", RouteClass::admin}, "", false, list_tokens});
  t.push_back(
      {{"DELETE", "/v1/tokens/{id}", RouteClass::admin}, "token.revoke", false, revoke_token});
}

}  // namespace flotilla::api::routes
