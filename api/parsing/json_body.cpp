// parse_json_body and the small header/name checks of api/request_parsing.h.
#include <charconv>

#include "api/request_parsing.h"

namespace flotilla::api {

namespace {

// Depth of [ and { outside strings; stops early once past the limit.
bool nesting_exceeds(std::string_view body, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string trim_lower(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::string out;
  for (char c : s) out.push_back(lower(c));
  return out;
}

}  // namespace

ApiResult<nlohmann::json> parse_json_body(std::string_view body) {
  if (nesting_exceeds(body, kMaxJsonDepth)) {
    return fail(api_error(ApiErrc::bad_request,
                          "JSON nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels"));
  }
  try {
    return nlohmann::json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    return fail(
        api_error(ApiErrc::invalid_json, std::string("body is not valid JSON: ") + e.what()));
  } catch (...) {
    return fail(api_error(ApiErrc::invalid_json, "body is not valid JSON"));
  }
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(i > 0 && c == '-')) return false;
  }
  return true;
}

bool is_json_content_type(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  if (trim_lower(content_type.substr(0, semi)) != "application/json") return false;
  if (semi == std::string_view::npos) return true;
  // Only a charset parameter, and only UTF-8.
  const std::string param = trim_lower(content_type.substr(semi + 1));
  return param == "charset=utf-8" || param == "charset=\"utf-8\"";
}

ApiResult<std::optional<uint64_t>> parse_if_match(std::string_view v) {
  if (v.empty()) return std::optional<uint64_t>{};
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  uint64_t gen = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), gen);
  if (ec != std::errc() || ptr != v.data() + v.size() || v.empty()) {
    return fail(api_error(ApiErrc::bad_request,
                          "If-Match must be a quoted generation number, e.g. \"3\"", "If-Match"));
  }
  return std::optional<uint64_t>{gen};
}

}  // namespace flotilla::api
