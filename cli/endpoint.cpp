// URL parsing and the other socket-free helpers declared in http_client.h.
#include <cctype>
#include <charconv>

#include "cli/http_client.h"

namespace flotilla::cli {
namespace {

HttpError invalid(std::string_view url, std::string_view why) {
  return HttpError{HttpErrorCode::kInvalidUrl,
                   "invalid url '" + std::string(url) + "': " + std::string(why)};
}

bool valid_port(std::string_view port) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && ptr == port.data() + port.size() && value >= 1 && value <= 65535;
}

Result<Endpoint, HttpError> parse_http(std::string_view url, std::string_view rest, bool tls) {
  Endpoint ep;
  ep.transport = tls ? Transport::kTls : Transport::kTcp;
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail(invalid(url, "query and fragment are not allowed"));
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view base = rest.substr(slash);
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    ep.base_path = std::string(base);
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail(invalid(url, "credentials in the url are not supported; use --token"));
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(invalid(url, "unterminated '['"));
    ep.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(invalid(url, "expected ':' after ']'"));
      port = after.substr(1);
      if (port.empty()) return fail(invalid(url, "empty port"));
    }
  } else {
    auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail(invalid(url, "empty port"));
    }
  }
  if (ep.host.empty()) return fail(invalid(url, "missing host"));
  if (!port.empty() && !valid_port(port)) return fail(invalid(url, "port must be 1..65535"));
  ep.port = port.empty() ? (tls ? "443" : "80") : std::string(port);
  return ep;
}

}  // namespace

std::string_view to_string(HttpErrorCode code) {
  switch (code) {
    case HttpErrorCode::kInvalidUrl:
      return "invalid_url";
    case HttpErrorCode::kTlsSetup:
      return "tls_setup";
    case HttpErrorCode::kResolve:
      return "resolve";
    case HttpErrorCode::kConnect:
      return "connect";
    case HttpErrorCode::kTls:
      return "tls";
    case HttpErrorCode::kTimeout:
      return "timeout";
    case HttpErrorCode::kIo:
      return "io";
    case HttpErrorCode::kClosed:
      return "closed";
  }
  return "unknown";
}

Result<Endpoint, HttpError> parse_url(std::string_view url) {
  constexpr std::string_view kHttp = "http://", kHttps = "https://", kUnix = "unix:";
  if (url.substr(0, kHttp.size()) == kHttp) return parse_http(url, url.substr(kHttp.size()), false);
  if (url.substr(0, kHttps.size()) == kHttps) {
    return parse_http(url, url.substr(kHttps.size()), true);
  }
  if (url.substr(0, kUnix.size()) == kUnix) {
    std::string_view path = url.substr(kUnix.size());
    if (path.substr(0, 2) == "//") path.remove_prefix(2);
    if (path.empty()) return fail(invalid(url, "missing socket path"));
    Endpoint ep;
    ep.transport = Transport::kUnix;
    ep.socket_path = std::string(path);
    return ep;
  }
  return fail(invalid(url, "expected http://, https:// or unix:"));
}

std::string describe(const Endpoint& ep) {
  if (ep.transport == Transport::kUnix) return "unix:" + ep.socket_path;
  std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  return (ep.transport == Transport::kTls ? "https://" : "http://") + host + ":" + ep.port +
         ep.base_path;
}

HttpRequest make_request(std::string method, std::string target, std::string body) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

std::string HttpResponse::header(std::string_view name) const {
  auto iequal = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i]))) {
        return false;
      }
    }
    return true;
  };
  for (const auto& [key, value] : headers) {
    if (iequal(key, name)) return value;
  }
  return {};
}

std::string encode_path_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (unsigned char c : segment) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace flotilla::cli
