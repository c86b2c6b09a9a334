// Internal to api/server: one HTTP/1.1 connection. The session owns its stream, whose executor
// is a strand, so every handler of a session runs serialised. One request at a time: the next
// is read after the response is written (pipelined requests wait in the buffer, bounded by
// pipeline_limit). CRTP over the stream type (plain TCP, Unix socket, TLS), as in Beast's
// advanced server.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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
http::response<http::string_body> to_http_response(ApiResponse&& r, unsigned version,
                                                   bool keep_alive);

template <class Derived>
class HttpSession : public SessionBase {
 public:
  HttpSession(SessionHost& host, Transport transport, bool over_capacity)
      : host_(host),
        transport_(transport),
        over_capacity_(over_capacity),
        buffer_(host.options().body_limit_bytes + host.options().header_limit_bytes + 4096) {}
  ~HttpSession() override { host_.session_ended(); }

  void notify_shutdown() override {
    boost::asio::dispatch(derived().stream().get_executor(),
                          [self = derived().shared_from_this()] { self->on_shutdown(); });
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  beast::flat_buffer& buffer() { return buffer_; }
  const ServerOptions& options() const { return host_.options(); }

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
    ApiResponse r = host_.api().handle(to_api_request(std::move(req), transport_));
    const bool keep = keep_alive && !r.close && !stopping_ && !host_.stopping();
    write(to_http_response(std::move(r), version, keep));
  }

  void respond_error(const std::string& method, const ApiError& e) {
    ApiResponse r = host_.api().transport_error(method, e);
    write(to_http_response(std::move(r), 11, false));
  }

  void write(http::response<http::string_body>&& res) {
    res_.emplace(std::move(res));
    lowest().expires_after(std::chrono::milliseconds(host_.options().read_timeout_ms));
    http::async_write(
        derived().stream(), *res_,
        beast::bind_front_handler(&HttpSession::on_write, derived().shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    const bool close = !res_->keep_alive();
    res_.reset();
    if (ec || close) return derived().do_close();
    do_read();
  }

  SessionHost& host_;
  Transport transport_;
  bool over_capacity_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool stopping_ = false;
  bool reading_ = false;
  int pipelined_ = 0;
};

}  // namespace flotilla::api::server
