#include "api/routing.h"

namespace flotilla::api {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 1;  // after the leading '/'
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

bool match_pattern(std::string_view pattern, const std::vector<std::string_view>& segs,
                   std::vector<std::string>& params) {
  const auto pat = split_path(pattern);
  if (pat.size() != segs.size()) return false;
  std::vector<std::string> captured;
  for (size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].size() > 2 && pat[i].front() == '{' && pat[i].back() == '}') {
      if (segs[i].empty()) return false;
      captured.emplace_back(segs[i]);
    } else if (pat[i] != segs[i]) {
      return false;
    }
  }
  params = std::move(captured);
  return true;
}

}  // namespace

std::string_view to_string(RouteClass c) {
  switch (c) {
    case RouteClass::open:
      return "open";
    case RouteClass::read:
      return "viewer";
    case RouteClass::console:
      return "helpdesk";
    case RouteClass::manage:
      return "operator";
    case RouteClass::admin:
      return "admin";
  }
  return "admin";
}

storage::Role min_role(RouteClass c) {
  switch (c) {
    case RouteClass::open:
    case RouteClass::read:
      return storage::Role::viewer;
    case RouteClass::console:
      return storage::Role::helpdesk;
    case RouteClass::manage:
      return storage::Role::operator_;
    case RouteClass::admin:
      return storage::Role::admin;
  }
  return storage::Role::admin;
}

bool role_allows(storage::Role role, RouteClass c) {
  if (c == RouteClass::open) return true;
  return static_cast<int>(role) >= static_cast<int>(min_role(c));
}

RouteMatch match_route(const routes::RouteTable& table, std::string_view method,
                       std::string_view target) {
  RouteMatch m;
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') {
    m.error = api_error(ApiErrc::bad_request, "request target must be an absolute path");
    return m;
  }
  const auto segs = split_path(path);
  for (const auto& route : table) {
    std::vector<std::string> params;
    if (!match_pattern(route.info.pattern, segs, params)) continue;
    if (route.info.method == method) {
      m.route = &route;
      m.params = std::move(params);
      return m;
    }
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += route.info.method;
  }
  if (!m.allow.empty()) {
    m.error = api_error(ApiErrc::method_not_allowed,
                        std::string(method) + " is not allowed here; allowed: " + m.allow);
  } else {
    m.error = api_error(ApiErrc::not_found, "no route for " + std::string(path));
  }
  return m;
}

}  // namespace flotilla::api
