// Internal to api/server: one HTTP/1.1 connection. The session owns its stream, whose executor
// is a strand, so every handler of a session runs serialised. One request at a time: the next
// is read after the response is written (pipelined requests wait in the buffer, bounded by
// pipeline_limit). CRTP over the stream type (plain TCP, Unix socket, TLS), as in Beast's
// advanced server.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "api/server/session_host.h"

namespace flotilla::api::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;

// Maps a read error to the response the client gets, or nullopt to just close.
std::optional<ApiError> read_error_response(const beast::error_code& ec);
// Converts a parsed request to the API's view.
ApiRequest to_api_request(http::request<http::string_body>&& req, Transport transport);

// A response on its way out. The message's span body points into `shared` (a cached body, sent
// without a copy) or `owned`; neither moves while the write runs, so the type cannot be moved.
struct OutgoingResponse {
  OutgoingResponse() = default;
  OutgoingResponse(const OutgoingResponse&) = delete;
  OutgoingResponse& operator=(const OutgoingResponse&) = delete;

  std::shared_ptr<const std::string> shared;
  std::string owned;
  http::response<http::span_body<const char>> message;
};
void fill_http_response(OutgoingResponse& out, ApiResponse&& r, unsigned version, bool keep_alive);

template <class Derived>
class HttpSession : public SessionBase {
 public:
  HttpSession(SessionHost& host, Transport transport, bool over_capacity)
      : host_(host),
        transport_(transport),
        over_capacity_(over_capacity),
        buffer_(host.options().body_limit_bytes + host.options().header_limit_bytes + 4096) {}
  ~HttpSession() override { host_.session_ended(); }

  // A console WebSocket (api/server/console_session.h) took over the stream: this session no
  // longer reads, it only keeps the stream alive for the console session.
  bool handed_over() const { return handed_over_; }

  void notify_shutdown() override {
    boost::asio::dispatch(derived().stream().get_executor(),
                          [self = derived().shared_from_this()] { self->on_shutdown(); });
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  beast::flat_buffer& buffer() { return buffer_; }
  const ServerOptions& options() const { return host_.options(); }
  SessionHost& host() { return host_; }

  void do_read() {
    if (stopping_ || host_.stopping()) return derived().do_close();
    parser_.emplace();
    parser_->body_limit(host_.options().body_limit_bytes);
    parser_->header_limit(host_.options().header_limit_bytes);
    pipelined_ = buffer_.size() > 0 ? pipelined_ + 1 : 0;
    if (pipelined_ > host_.options().pipeline_limit) {
      return respond_error("", api_error(ApiErrc::too_many_requests,
                                         "too many pipelined requests on one connection"));
    }
    reading_ = true;
    lowest().expires_after(std::chrono::milliseconds(host_.options().read_timeout_ms));
    http::async_read(
        derived().stream(), buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_read, derived().shared_from_this()));
  }

 private:
  auto& lowest() { return beast::get_lowest_layer(derived().stream()); }

  void on_shutdown() {
    stopping_ = true;
    if (handed_over_) return;  // the console session has its own shutdown
    // Idle between requests: close now. Mid-request: let it finish, then close.
    if (reading_ && (!parser_ || !parser_->got_some())) lowest().cancel();
  }

  void on_read(beast::error_code ec, size_t) {
    reading_ = false;
    if (ec) {
      if (auto err = read_error_response(ec)) return respond_error("", *err);
      return derived().do_close();
    }
    auto req = parser_->release();
    if (over_capacity_) {
      return respond_error(std::string(req.method_string()),
                           api_error(ApiErrc::unavailable, "too many connections, retry later"));
    }
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    // The handshake needs the original request; only upgrade requests are copied.
    std::optional<http::request<http::string_body>> upgrade_request;
    if (boost::beast::websocket::is_upgrade(req)) upgrade_request = req;
    ApiResponse r = host_.api().handle(to_api_request(std::move(req), transport_));
    if (r.status == 101 && r.upgrade) {
      if (!upgrade_request || stopping_ || host_.stopping()) {
        return respond_error(
            "GET", stopping_ || host_.stopping()
                       ? api_error(ApiErrc::unavailable, "the server is shutting down")
                       : api_error(ApiErrc::bad_request,
                                   "not a WebSocket handshake: needs HTTP/1.1 GET with "
                                   "Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key "
                                   "and Sec-WebSocket-Version: 13"));
      }
      handed_over_ = true;
      return derived().start_console(std::move(*r.upgrade), std::move(*upgrade_request),
                                     std::move(r.request_id));
    }
    const bool keep = keep_alive && !r.close && !stopping_ && !host_.stopping();
    write(std::move(r), version, keep);
  }

  void respond_error(const std::string& method, const ApiError& e) {
    ApiResponse r = host_.api().transport_error(method, e);
    write(std::move(r), 11, false);
  }

  void write(ApiResponse&& r, unsigned version, bool keep_alive) {
    res_.emplace();
    fill_http_response(*res_, std::move(r), version, keep_alive);
    lowest().expires_after(std::chrono::milliseconds(host_.options().read_timeout_ms));
    http::async_write(
        derived().stream(), res_->message,
        beast::bind_front_handler(&HttpSession::on_write, derived().shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    const bool close = !res_->message.keep_alive();
    res_.reset();
    if (ec || close) return derived().do_close();
    do_read();
  }

  SessionHost& host_;
  Transport transport_;
  bool over_capacity_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<OutgoingResponse> res_;
  bool stopping_ = false;
  bool reading_ = false;
  bool handed_over_ = false;
  int pipelined_ = 0;
};

}  // namespace flotilla::api::server
