// HttpServer: Boost.Beast HTTP/1.1 on a small Asio thread pool ("api-<n>" threads). Listens on
// TCP (plain or TLS) and optionally a Unix socket; each session owns its socket on a strand
// with a read deadline, body/header limits, a pipelining limit and keep-alive. Requests go to
// an Api (api/api.h); the server never interprets them.
//
// Lifecycle: create() binds the listeners (so the bound port is known), start() runs the
// threads, shutdown() stops accepting, closes idle connections, lets in-flight requests finish
// (up to drain_timeout_ms), then joins the threads. reload_tls() swaps the TLS context used by
// new connections.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/api.h"
#include "common/result.h"

namespace flotilla::api {

struct TlsFiles {
  std::string cert_path;  // PEM certificate chain
  std::string key_path;   // PEM private key
  bool enabled() const { return !cert_path.empty() && !key_path.empty(); }
};

struct ServerOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8470;   // 0: an ephemeral port, see HttpServer::tcp_port()
  std::string unix_socket_path;  // "" for none; created with mode 0660
  TlsFiles tls;                  // when enabled, the TCP listener speaks TLS only
  int threads = 2;               // 1..16
  uint64_t body_limit_bytes = 1024 * 1024;
  uint32_t header_limit_bytes = 16 * 1024;
  int read_timeout_ms = 10000;   // one request (headers + body, or idle keep-alive wait), handshake
  int max_connections = 256;     // above: 503 and close
  int pipeline_limit = 16;       // requests answered from one read's leftovers in a row
  int drain_timeout_ms = 10000;  // shutdown: how long in-flight requests may take
};

struct ServerError {
  std::string message;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>, ServerError> create(const ServerOptions& options,
                                                                 Api& api);
  virtual ~HttpServer() = default;

  virtual void start() = 0;
  virtual void shutdown() = 0;  // idempotent; blocks until drained or drain_timeout_ms
  virtual Result<void, ServerError> reload_tls(const TlsFiles& files) = 0;
  virtual uint16_t tcp_port() const = 0;
  virtual bool tls_enabled() const = 0;
  virtual int active_connections() const = 0;
};

}  // namespace flotilla::api
