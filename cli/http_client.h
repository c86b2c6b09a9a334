// A small synchronous HTTP/1.1 client for the Flotilla REST API: plain TCP, TLS (OpenSSL) or a
// Unix stream socket, one keep-alive connection per client, a deadline on every exchange.
// Beast stays behind the pimpl, so including this header costs nothing; the CLI, tests and
// tooling share it. Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace flotilla::cli {

enum class Transport { kTcp, kTls, kUnix };

// Where to connect. Built by parse_url() from "http://host:port", "https://host:port[/prefix]"
// or "unix:/path/to.sock" (also "unix:///path/to.sock").
struct Endpoint {
  Transport transport = Transport::kTcp;
  std::string host;         // kTcp / kTls: name or address (IPv6 without brackets)
  std::string port;         // kTcp / kTls
  std::string socket_path;  // kUnix
  std::string base_path;    // prepended to every request target; "" or "/prefix"
};

enum class HttpErrorCode {
  kInvalidUrl,  // the URL could not be parsed
  kTlsSetup,    // TLS context: CA file unreadable, ...
  kResolve,     // host name did not resolve
  kConnect,     // connection refused, socket missing, unreachable
  kTls,         // handshake or certificate verification failed
  kTimeout,     // no answer before the deadline
  kIo,          // read/write failed or the response was not valid HTTP
  kClosed,      // the WebSocket was closed by the peer (websocket_client.h)
};

struct HttpError {
  HttpErrorCode code = HttpErrorCode::kIo;
  std::string message;
};

std::string_view to_string(HttpErrorCode code);

Result<Endpoint, HttpError> parse_url(std::string_view url);
// "unix:/path", "http://host:port", ... — for messages.
std::string describe(const Endpoint& endpoint);

struct TlsOptions {
  bool insecure = false;  // skip certificate and host name verification
  std::string ca_file;    // PEM bundle to trust instead of the system store
};

struct ClientOptions {
  Endpoint endpoint;
  TlsOptions tls;
  std::string bearer_token;  // sent as "Authorization: Bearer <token>" when not empty
  std::chrono::milliseconds timeout{30000};
  std::size_t body_limit = 64u << 20;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query, already percent-encoded
  std::string body;          // sent with Content-Type: application/json when not empty
  Headers headers;           // extra headers
};

// A request with no extra headers: what every command's request builder starts from.
HttpRequest make_request(std::string method, std::string target, std::string body = {});

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // First header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

class HttpClient {
 public:
  static Result<HttpClient, HttpError> create(ClientOptions options);

  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  // Connects on first use and reuses the connection while the server keeps it alive. An
  // idempotent request on a reused connection that the server had already closed is retried
  // once on a fresh connection.
  Result<HttpResponse, HttpError> send(const HttpRequest& request);
  void close();

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes one path segment (RFC 3986 unreserved characters pass through).
std::string encode_path_segment(std::string_view segment);

}  // namespace flotilla::cli
