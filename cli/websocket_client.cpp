// WebSocketClient on Boost.Beast: one of three stream types behind a small virtual interface,
// a private io_context run on the caller's thread.
#include "cli/websocket_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <optional>

namespace flotilla::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

HttpError error_from(HttpErrorCode code, std::string_view what, const error_code& ec) {
  if (ec == beast::error::timeout) code = HttpErrorCode::kTimeout;
  if (ec == websocket::error::closed) code = HttpErrorCode::kClosed;
  return HttpError{code, std::string(what) + ": " + ec.message()};
}

using ReadHandler = std::function<void(error_code, bool text)>;
using DoneHandler = std::function<void(error_code)>;

// The operations the client needs, whatever the stream underneath.
class Ws {
 public:
  virtual ~Ws() = default;
  virtual void handshake(const std::string& host, const std::string& target,
                         websocket::response_type& res, const Headers& headers,
                         std::chrono::milliseconds timeout, DoneHandler done) = 0;
  virtual void read(beast::flat_buffer& buffer, ReadHandler done) = 0;
  virtual void write(asio::const_buffer data, bool text, DoneHandler done) = 0;
  virtual void close(DoneHandler done) = 0;
  virtual std::string reason() const = 0;
  virtual void close_socket() = 0;
};

template <class Stream>
class WsOn final : public Ws {
 public:
  template <class... Args>
  explicit WsOn(Args&&... args) : ws_(std::forward<Args>(args)...) {}
  websocket::stream<Stream>& stream() { return ws_; }

  void handshake(const std::string& host, const std::string& target, websocket::response_type& res,
                 const Headers& headers, std::chrono::milliseconds timeout,
                 DoneHandler done) override {
    beast::get_lowest_layer(ws_).expires_after(timeout);
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      req.set(http::field::user_agent, "flotilla-cli");
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    ws_.async_handshake(res, host, target, [this, done](error_code ec) {
      beast::get_lowest_layer(ws_).expires_never();
      auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
      ws_.set_option(t);
      ws_.read_message_max(1 << 20);
      done(ec);
    });
  }
  void read(beast::flat_buffer& buffer, ReadHandler done) override {
    ws_.async_read(buffer, [this, done](error_code ec, size_t) { done(ec, ws_.got_text()); });
  }
  void write(asio::const_buffer data, bool text, DoneHandler done) override {
    ws_.text(text);
    ws_.async_write(data, [done](error_code ec, size_t) { done(ec); });
  }
  void close(DoneHandler done) override {
    ws_.async_close(websocket::close_code::normal, [done](error_code ec) { done(ec); });
  }
  std::string reason() const override { return std::string(ws_.reason().reason.c_str()); }
  void close_socket() override {
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  websocket::stream<Stream> ws_;
};

}  // namespace

struct WebSocketClient::Impl {
  ClientOptions options;
  asio::io_context ioc;
  std::optional<ssl::context> tls_ctx;
  std::unique_ptr<Ws> ws;
  beast::flat_buffer read_buffer;
  std::string write_data;
  bool open = false;

  void run() {
    ioc.restart();
    ioc.run();
  }
  // Runs handlers until `done()` or the timeout (other pending work, e.g. timers, does not
  // keep it waiting).
  template <class Pred>
  void run_until(Pred done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    ioc.restart();
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline || ioc.stopped()) break;
      ioc.run_one_for(deadline - now);
    }
  }
  Result<void, WsConnectError> connect(const HttpRequest& request);
  Result<void, HttpError> connect_tcp(beast::tcp_stream& stream);
};

Result<void, HttpError> WebSocketClient::Impl::connect_tcp(beast::tcp_stream& stream) {
  const Endpoint& ep = options.endpoint;
  tcp::resolver resolver(ioc);
  error_code ec;
  tcp::resolver::results_type results;
  resolver.async_resolve(ep.host, ep.port, [&](error_code e, tcp::resolver::results_type r) {
    ec = e;
    results = std::move(r);
  });
  run();
  if (ec) return fail(error_from(HttpErrorCode::kResolve, "cannot resolve " + ep.host, ec));
  stream.expires_after(options.timeout);
  stream.async_connect(results, [&](error_code e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec) return fail(error_from(HttpErrorCode::kConnect, "cannot connect to " + describe(ep), ec));
  stream.socket().set_option(tcp::no_delay(true), ec);
  return {};
}

Result<void, WsConnectError> WebSocketClient::Impl::connect(const HttpRequest& request) {
  const Endpoint& ep = options.endpoint;
  error_code ec;
  auto failed = [](HttpError e) { return fail(WsConnectError{std::move(e), std::nullopt}); };
  switch (ep.transport) {
    case Transport::kTcp: {
      auto w = std::make_unique<WsOn<beast::tcp_stream>>(ioc);
      if (auto r = connect_tcp(w->stream().next_layer()); !r) return failed(r.error());
      ws = std::move(w);
      break;
    }
    case Transport::kTls: {
      auto w = std::make_unique<WsOn<beast::ssl_stream<beast::tcp_stream>>>(ioc, *tls_ctx);
      auto& tls = w->stream().next_layer();
      if (auto r = connect_tcp(beast::get_lowest_layer(tls)); !r) return failed(r.error());
      if (!options.tls.insecure) {
        tls.set_verify_mode(ssl::verify_peer);
        tls.set_verify_callback(ssl::host_name_verification(ep.host));
      }
      error_code addr_ec;
      asio::ip::make_address(ep.host, addr_ec);
      // SAFETY: native_handle() is the live SSL* owned by the stream; the name is copied.
      if (addr_ec && !SSL_set_tlsext_host_name(tls.native_handle(), ep.host.c_str())) {
        return failed(HttpError{HttpErrorCode::kTls, "cannot set TLS server name"});
      }
      beast::get_lowest_layer(tls).expires_after(options.timeout);
      tls.async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
      run();
      if (ec)
        return failed(error_from(HttpErrorCode::kTls, "TLS handshake with " + describe(ep), ec));
      ws = std::move(w);
      break;
    }
    case Transport::kUnix: {
      using UnixStream = beast::basic_stream<asio::local::stream_protocol>;
      auto w = std::make_unique<WsOn<UnixStream>>(ioc);
      w->stream().next_layer().expires_after(options.timeout);
      w->stream().next_layer().async_connect(asio::local::stream_protocol::endpoint(ep.socket_path),
                                             [&](error_code e) { ec = e; });
      run();
      if (ec) {
        return failed(error_from(HttpErrorCode::kConnect, "cannot connect to " + describe(ep), ec));
      }
      ws = std::move(w);
      break;
    }
  }
  Headers headers = request.headers;
  if (!options.bearer_token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + options.bearer_token);
  }
  websocket::response_type res;
  const std::string host = ep.transport == Transport::kUnix ? "localhost" : ep.host;
  ws->handshake(host, ep.base_path + request.target, res, headers, options.timeout,
                [&](error_code e) { ec = e; });
  run();
  if (ec) {
    WsConnectError e{error_from(HttpErrorCode::kIo, "WebSocket handshake", ec), std::nullopt};
    if (res.result_int() != 0 && res.result() != http::status::switching_protocols) {
      HttpResponse r;
      r.status = static_cast<int>(res.result_int());
      for (const auto& field : res) {
        r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      r.body = res.body();
      e.response = std::move(r);
    }
    ws->close_socket();
    return fail(std::move(e));
  }
  open = true;
  return {};
}

Result<WebSocketClient, WsConnectError> WebSocketClient::connect(const ClientOptions& options,
                                                                 const HttpRequest& request) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.endpoint.transport == Transport::kTls) {
    impl->tls_ctx.emplace(ssl::context::tls_client);
    error_code ec;
    if (!options.tls.ca_file.empty()) {
      impl->tls_ctx->load_verify_file(options.tls.ca_file, ec);
    } else {
      impl->tls_ctx->set_default_verify_paths(ec);
    }
    if (ec) {
      return fail(WsConnectError{
          error_from(HttpErrorCode::kTlsSetup, "cannot load CA file " + options.tls.ca_file, ec),
          std::nullopt});
    }
  }
  if (auto r = impl->connect(request); !r) return fail(r.error());
  return WebSocketClient(std::move(impl));
}

WebSocketClient::WebSocketClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebSocketClient::WebSocketClient(WebSocketClient&&) noexcept = default;
WebSocketClient& WebSocketClient::operator=(WebSocketClient&&) noexcept = default;
WebSocketClient::~WebSocketClient() {
  if (impl_ && impl_->ws) impl_->ws->close_socket();
}

Result<WsMessage, HttpError> WebSocketClient::read(std::chrono::milliseconds timeout) {
  std::optional<Result<WsMessage, HttpError>> result;
  async_read([&](Result<WsMessage, HttpError> r) { result = std::move(r); });
  impl_->run_until([&] { return result.has_value(); }, timeout);
  if (!result) {
    impl_->ws->close_socket();  // cancels the read; the connection is done
    impl_->run();
    impl_->open = false;
    return fail(HttpError{HttpErrorCode::kTimeout, "no WebSocket message in time"});
  }
  return std::move(*result);
}

Result<void, HttpError> WebSocketClient::write(std::string_view data, bool text) {
  std::optional<Result<void, HttpError>> result;
  async_write(std::string(data), text, [&](Result<void, HttpError> r) { result = std::move(r); });
  impl_->run_until([&] { return result.has_value(); }, impl_->options.timeout);
  if (!result) {
    impl_->ws->close_socket();
    impl_->run();
    impl_->open = false;
    return fail(HttpError{HttpErrorCode::kTimeout, "WebSocket write timed out"});
  }
  return std::move(*result);
}

void WebSocketClient::close() {
  if (!impl_ || !impl_->ws) return;
  if (impl_->open) {
    bool done = false;
    async_close([&] { done = true; });
    impl_->run_until([&] { return done; }, impl_->options.timeout);
  }
  impl_->ws->close_socket();
  impl_->open = false;
}

std::string WebSocketClient::close_reason() const {
  return impl_->ws ? impl_->ws->reason() : std::string();
}

void WebSocketClient::async_read(std::function<void(Result<WsMessage, HttpError>)> handler) {
  Impl* impl = impl_.get();
  impl->ws->read(impl->read_buffer, [impl, handler = std::move(handler)](error_code ec, bool text) {
    if (ec) {
      if (ec == websocket::error::closed) impl->open = false;
      return handler(fail(error_from(HttpErrorCode::kIo, "WebSocket read", ec)));
    }
    WsMessage m;
    m.text = text;
    m.data = beast::buffers_to_string(impl->read_buffer.data());
    impl->read_buffer.consume(impl->read_buffer.size());
    handler(std::move(m));
  });
}

void WebSocketClient::async_write(std::string data, bool text,
                                  std::function<void(Result<void, HttpError>)> handler) {
  Impl* impl = impl_.get();
  impl->write_data = std::move(data);
  impl->ws->write(asio::buffer(impl->write_data), text,
                  [handler = std::move(handler)](error_code ec) {
                    if (ec)
                      return handler(fail(error_from(HttpErrorCode::kIo, "WebSocket write", ec)));
                    handler({});
                  });
}

void WebSocketClient::async_close(std::function<void()> handler) {
  Impl* impl = impl_.get();
  if (!impl->open) {
    asio::post(impl->ioc, std::move(handler));
    return;
  }
  impl->open = false;
  // A peer that never answers the close frame: the socket is closed after the timeout.
  auto timer = std::make_shared<asio::steady_timer>(impl->ioc, impl->options.timeout);
  timer->async_wait([impl](error_code ec) {
    if (!ec) impl->ws->close_socket();
  });
  impl->ws->close([timer, handler = std::move(handler)](error_code) {
    timer->cancel();
    handler();
  });
}

void WebSocketClient::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](error_code ec) {
    if (!ec) fn();
  });
}

void WebSocketClient::post(std::function<void()> fn) {
  asio::post(impl_->ioc, std::move(fn));
}

void WebSocketClient::run() {
  impl_->run();
}

void WebSocketClient::stop() {
  impl_->ioc.stop();
}

}  // namespace flotilla::cli
