// Internal to api/server: the three concrete sessions (plain TCP, Unix socket, TLS over TCP).
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/ssl.hpp>

#include "api/server/console_session.h"
#include "api/server/session.h"

namespace flotilla::api::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using unix_socket = net::local::stream_protocol;

// Plain TCP and Unix-socket sessions differ only in the stream's protocol.
template <class Protocol>
class PlainSession : public HttpSession<PlainSession<Protocol>>,
                     public std::enable_shared_from_this<PlainSession<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol>;
  PlainSession(typename Protocol::socket&& socket, SessionHost& host, Transport transport,
               bool over_capacity)
      : HttpSession<PlainSession>(host, transport, over_capacity), stream_(std::move(socket)) {}

  void run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->do_read(); });
  }
  Stream& stream() { return stream_; }
  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
  }
  void start_console(ConsoleUpgrade upgrade, http::request<http::string_body>&& req,
                     std::string request_id) {
    auto s = std::make_shared<ConsoleSession<Stream>>(this->shared_from_this(), stream_,
                                                      this->host(), std::move(upgrade),
                                                      std::move(req), std::move(request_id));
    this->host().session_started(s);
    s->run();
  }

 private:
  Stream stream_;
};

class TlsSession : public HttpSession<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  TlsSession(tcp::socket&& socket, std::shared_ptr<net::ssl::context> ctx, SessionHost& host,
             bool over_capacity)
      : HttpSession<TlsSession>(host, Transport::tls, over_capacity),
        ctx_(std::move(ctx)),
        stream_(std::move(socket), *ctx_) {}

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }
  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  void start_console(ConsoleUpgrade upgrade, http::request<http::string_body>&& req,
                     std::string request_id) {
    using Stream = beast::ssl_stream<beast::tcp_stream>;
    auto s = std::make_shared<ConsoleSession<Stream>>(shared_from_this(), stream_, host(),
                                                      std::move(upgrade), std::move(req),
                                                      std::move(request_id));
    host().session_started(s);
    s->run();
  }
  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ec;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

 private:
  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::milliseconds(options().read_timeout_ms));
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (!ec) self->do_read();
                            });
  }

  std::shared_ptr<net::ssl::context> ctx_;  // outlives stream_ (declared first)
  beast::ssl_stream<beast::tcp_stream> stream_;
};

}  // namespace flotilla::api::server
