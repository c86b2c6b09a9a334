// Internal to api/: matching a request target against the route table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/routes/route_table.h"

namespace flotilla::api {

struct RouteMatch {
  const routes::Route* route = nullptr;  // null: see error (404, 405 or 400)
  std::vector<std::string> params;
  ApiError error;
  std::string allow;  // for 405: the methods the path supports, "GET, POST"
};

// Matches the path of `target` (query ignored; never normalised, so "/v1/vms/../x" matches
// nothing) segment by segment; "{name}" segments capture one non-empty segment.
RouteMatch match_route(const routes::RouteTable& table, std::string_view method,
                       std::string_view target);

}  // namespace flotilla::api
