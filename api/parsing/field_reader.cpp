#include "api/parsing/field_reader.h"

#include <algorithm>

#include "api/request_parsing.h"

namespace flotilla::api::parsing {

std::string join_path(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string out = base;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& base, size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

ApiError invalid(const std::string& field, std::string message) {
  return api_error(ApiErrc::validation_failed, field + ": " + message, field);
}

Status expect_object(const Json& v, const std::string& field) {
  if (!v.is_object()) return invalid(field, "must be an object");
  return std::nullopt;
}

Status check_keys(const Json& obj, const std::string& base,
                  std::initializer_list<std::string_view> allowed) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return invalid(join_path(base, key), "unknown field");
    }
  }
  return std::nullopt;
}

Status read_uint(const Json& v, const std::string& field, uint64_t lo, uint64_t hi, uint64_t& out) {
  const std::string range =
      "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!v.is_number_integer()) return invalid(field, range);
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
  } else {
    const int64_t s = v.get<int64_t>();
    if (s < 0) return invalid(field, range);
    out = static_cast<uint64_t>(s);
  }
  if (out < lo || out > hi) return invalid(field, range);
  return std::nullopt;
}

Status read_u32(const Json& v, const std::string& field, uint32_t lo, uint32_t hi, uint32_t& out) {
  uint64_t wide = 0;
  FLT_RETURN_IF_ERROR(read_uint(v, field, lo, hi, wide));
  out = static_cast<uint32_t>(wide);
  return std::nullopt;
}

Status read_bool(const Json& v, const std::string& field, bool& out) {
  if (!v.is_boolean()) return invalid(field, "must be true or false");
  out = v.get<bool>();
  return std::nullopt;
}

Status read_string(const Json& v, const std::string& field, size_t max_bytes, std::string& out) {
  if (!v.is_string()) return invalid(field, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_bytes) {
    return invalid(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  }
  if (s.find('\0') != std::string::npos) return invalid(field, "must not contain NUL bytes");
  out = s;
  return std::nullopt;
}

static bool is_normalised_absolute(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  size_t pos = 1;
  while (pos <= p.size()) {
    size_t next = p.find('/', pos);
    if (next == std::string_view::npos) next = p.size();
    const std::string_view seg = p.substr(pos, next - pos);
    if (seg == "." || seg == "..") return false;
    if (seg.empty() && next != p.size()) return false;  // "//"
    pos = next + 1;
  }
  return true;
}

Status read_host_path(const Json& v, const std::string& field, bool allow_empty, std::string& out) {
  std::string s;
  FLT_RETURN_IF_ERROR(read_string(v, field, kMaxPathBytes, s));
  if (s.empty() && allow_empty) {
    out.clear();
    return std::nullopt;
  }
  if (!is_normalised_absolute(s)) {
    return invalid(field, "must be an absolute path without '.' or '..' segments");
  }
  out = std::move(s);
  return std::nullopt;
}

Status read_name(const Json& v, const std::string& field, std::string& out) {
  std::string s;
  FLT_RETURN_IF_ERROR(read_string(v, field, 63, s));
  if (!is_valid_name(s)) return invalid(field, "must match [a-z0-9][a-z0-9-]{0,62}");
  out = std::move(s);
  return std::nullopt;
}

}  // namespace flotilla::api::parsing
