// Query strings: "?key=value&..." with percent-decoding; no exceptions.
#include <charconv>

#include "api/request_parsing.h"

namespace flotilla::api {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

ApiResult<std::optional<std::string>> query_param(std::string_view target, std::string_view key) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::optional<std::string>();
  std::string_view rest = target.substr(q + 1);
  rest = rest.substr(0, rest.find('#'));
  std::optional<std::string> found;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) != std::optional<std::string>(key)) continue;
    if (found) {
      return fail(api_error(ApiErrc::bad_request,
                            "query parameter '" + std::string(key) + "' is given twice",
                            std::string(key)));
    }
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) {
      return fail(api_error(ApiErrc::bad_request,
                            "query parameter '" + std::string(key) + "' has a bad %-escape",
                            std::string(key)));
    }
    found = std::move(value);
  }
  return found;
}

ApiResult<std::optional<int64_t>> query_int(std::string_view target, std::string_view key,
                                            int64_t min, int64_t max) {
  auto text = query_param(target, key);
  if (!text) return fail(text.error());
  if (!*text) return std::optional<int64_t>();
  const std::string& s = **text;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) {
    return fail(api_error(ApiErrc::validation_failed,
                          std::string(key) + ": must be an integer from " + std::to_string(min) +
                              " to " + std::to_string(max),
                          std::string(key)));
  }
  return std::optional<int64_t>(v);
}

}  // namespace flotilla::api
