// Small typed readers over nlohmann::json for the request parsers. Each returns Status: empty
// on success, else the ApiError (validation_failed) naming the field by its JSON path.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/api_types.h"

namespace flotilla::api::parsing {

using Json = nlohmann::json;
using Status = std::optional<ApiError>;

#define FLT_RETURN_IF_ERROR(expr)    \
  do {                               \
    if (auto flt_status_ = (expr)) { \
      return flt_status_;            \
    }                                \
  } while (0)

// "boot" + "kernel" → "boot.kernel"; "" + "name" → "name".
std::string join_path(const std::string& base, std::string_view key);
std::string index_path(const std::string& base, size_t index);

ApiError invalid(const std::string& field, std::string message);

Status expect_object(const Json& v, const std::string& field);
// Rejects keys outside `allowed` (unknown fields are errors, not ignored).
Status check_keys(const Json& obj, const std::string& base,
                  std::initializer_list<std::string_view> allowed);
Status read_uint(const Json& v, const std::string& field, uint64_t lo, uint64_t hi, uint64_t& out);
Status read_u32(const Json& v, const std::string& field, uint32_t lo, uint32_t hi, uint32_t& out);
Status read_bool(const Json& v, const std::string& field, bool& out);
// A string of at most max_bytes, without NUL bytes.
Status read_string(const Json& v, const std::string& field, size_t max_bytes, std::string& out);
// A normalised absolute host path (no "." or ".." segments); empty allowed when allow_empty.
Status read_host_path(const Json& v, const std::string& field, bool allow_empty, std::string& out);
// A name matching [a-z0-9][a-z0-9-]{0,62}.
Status read_name(const Json& v, const std::string& field, std::string& out);

}  // namespace flotilla::api::parsing
