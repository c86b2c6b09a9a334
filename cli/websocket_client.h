// A WebSocket client for the Flotilla API (the console), over the same transports as HttpClient:
// plain TCP, TLS or a Unix stream socket (ClientOptions, parse_url). Beast stays behind the
// pimpl. Two ways to use it, not to be mixed on one client at the same time:
//   - blocking: read(timeout) / write() / close(), for tests and tools;
//   - asynchronous: async_read / async_write / async_close, with handlers run by run() on the
//     calling thread; post() is the one thread-safe entry (hand work in from other threads).
// Not thread-safe otherwise: one client, one thread running it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/http_client.h"
#include "common/result.h"

namespace flotilla::cli {

struct WsMessage {
  bool text = false;  // a text message (console control: {"console":...}); else binary bytes
  std::string data;
};

struct WsConnectError {
  HttpError error;
  // Set when the server answered the handshake with an HTTP response other than 101 (an API
  // error such as 401 or 404): its status and JSON body.
  std::optional<HttpResponse> response;
};

class WebSocketClient {
 public:
  // Connects to options.endpoint and performs the handshake for request.target (base path
  // prepended) with request.headers and the bearer token. Deadline: options.timeout.
  static Result<WebSocketClient, WsConnectError> connect(const ClientOptions& options,
                                                         const HttpRequest& request);

  WebSocketClient(WebSocketClient&&) noexcept;
  WebSocketClient& operator=(WebSocketClient&&) noexcept;
  ~WebSocketClient();

  // Blocking. read() fails with kClosed when the peer closed (see close_reason()), kTimeout
  // when nothing arrived in time (the connection is then unusable).
  Result<WsMessage, HttpError> read(std::chrono::milliseconds timeout);
  Result<void, HttpError> write(std::string_view data, bool text = false);
  // Close handshake (bounded by the client's timeout), then the socket. Idempotent.
  void close();
  // The close frame's reason text after the peer closed ("" if none).
  std::string close_reason() const;

  // Asynchronous. One read and one write outstanding at a time.
  void async_read(std::function<void(Result<WsMessage, HttpError>)> handler);
  void async_write(std::string data, bool text,
                   std::function<void(Result<void, HttpError>)> handler);
  void async_close(std::function<void()> handler);
  // Calls `fn` after `delay` on the running thread.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);
  // Thread-safe: runs `fn` on the thread in run().
  void post(std::function<void()> fn);
  // Runs handlers until no operation is outstanding (or stop()).
  void run();
  void stop();

 private:
  struct Impl;
  explicit WebSocketClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flotilla::cli
