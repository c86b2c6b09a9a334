// The checked-in api/openapi.json, embedded into the binary at build time.
#pragma once

#include <string_view>

namespace flotilla::api {

std::string_view openapi_document();

}  // namespace flotilla::api
