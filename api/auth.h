// Internal to api/: bearer-token authentication and the role matrix.
#pragma once

#include <string_view>

#include "api/api.h"
#include "storage/state_store.h"

namespace flotilla::api {

// True for "flt_" followed by exactly 43 base64url characters.
bool is_token_format(std::string_view token);

// Resolves "Bearer <token>" to its record: 401 when absent, malformed, unknown, revoked or
// expired (now_ms ≥ expires_at).
ApiResult<storage::TokenRecord> authenticate(storage::StateStore& store,
                                             std::string_view authorization, int64_t now_ms);

}  // namespace flotilla::api
