// Internal to api/server: the console WebSocket. When the Api answers a console request with 101
// and a ConsoleUpgrade, the HTTP session hands its stream to a ConsoleSession, which
//   1. connects to the monitor's control socket (Unix stream, 5 s deadline), sends
//      {"cmd":"console","write":<bool>}\n and reads the one-line reply (a failure here is an
//      HTTP 503 instead of the upgrade);
//   2. completes the WebSocket handshake on the same stream (TCP, Unix socket or TLS) and sends
//      one text message: {"console":"read-write"} or
//      {"console":"read-only","reason":"<why>"} (reasons: "read-only token or ?mode=read",
//      "another writer is attached");
//   3. relays: monitor bytes → binary messages; client messages (binary or text) → monitor
//      input when this session is the VM's writer, otherwise dropped.
// One writer per VM (ConsoleWriters, owned by the server); more sessions are readers.
// Memory per session is bounded: one 16 KiB monitor read and one client message (≤ 64 KiB) in
// flight, never a queue; a slow client slows the relay and the monitor drops what its
// non-blocking send cannot deliver. The HTTP read deadline is off; WebSocket timeouts (Beast's
// suggested server settings, keep-alive pings on) apply instead. Closes when either side
// closes, when the monitor exits, and at server shutdown (close code 1001 going away).
// Everything runs on the HTTP session's strand.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "api/server/session_host.h"

namespace flotilla::api::server {

// VMs that have a console writer attached (at most one each).
class ConsoleWriters {
 public:
  bool try_acquire(const std::string& vm_id) {
    std::lock_guard lock(mu_);
    return vms_.insert(vm_id).second;
  }
  void release(const std::string& vm_id) {
    std::lock_guard lock(mu_);
    vms_.erase(vm_id);
  }

 private:
  std::mutex mu_;
  std::set<std::string> vms_;  // GUARDED_BY(mu_)
};

inline constexpr std::chrono::seconds kMonitorConnectTimeout{5};
inline constexpr size_t kConsoleMessageMax = 64 * 1024;
inline constexpr size_t kConsoleChunk = 16 * 1024;

template <class Stream>
class ConsoleSession : public SessionBase,
                       public std::enable_shared_from_this<ConsoleSession<Stream>> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  // `stream` belongs to `owner` (the HTTP session), which this session keeps alive.
  ConsoleSession(std::shared_ptr<void> owner, Stream& stream, SessionHost& host,
                 ConsoleUpgrade upgrade, Request&& request, std::string request_id)
      : owner_(std::move(owner)),
        ws_(stream),
        monitor_(ws_.get_executor()),
        host_(host),
        upgrade_(std::move(upgrade)),
        request_(std::move(request)),
        request_id_(std::move(request_id)) {}

  ~ConsoleSession() override {
    if (writer_) host_.console_writers().release(upgrade_.vm_id);
    spdlog::info("console detached vm={} id={}", upgrade_.vm_id, request_id_);
  }

  void run() {
    boost::asio::dispatch(ws_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

  void notify_shutdown() override {
    boost::asio::dispatch(ws_.get_executor(), [self = this->shared_from_this()] {
      self->shutting_down_ = true;
      if (!self->accepted_) return self->close_monitor();  // the upgrade then fails
      self->close_ws(boost::beast::websocket::close_code::going_away, "server shutting down");
      self->close_monitor();
    });
  }

 private:
  using error_code = boost::beast::error_code;
  using unix_socket = boost::asio::local::stream_protocol;

  void start() {
    boost::beast::get_lowest_layer(ws_).expires_never();
    if (upgrade_.may_write) {
      writer_ = host_.console_writers().try_acquire(upgrade_.vm_id);
      if (!writer_) reason_ = "another writer is attached";
    } else {
      reason_ = "read-only token or ?mode=read";
    }
    monitor_.expires_after(kMonitorConnectTimeout);
    monitor_.async_connect(
        unix_socket::endpoint(upgrade_.control_socket),
        [self = this->shared_from_this()](error_code ec) { self->on_monitor_connect(ec); });
  }

  void on_monitor_connect(error_code ec) {
    if (ec) return reject("cannot connect to the VM's monitor: " + ec.message());
    line_ = nlohmann::json{{"cmd", "console"}, {"write", writer_}}.dump() + "\n";
    boost::asio::async_write(monitor_, boost::asio::buffer(line_),
                             [self = this->shared_from_this()](error_code e, size_t) {
                               if (e) return self->reject("monitor: " + e.message());
                               self->read_reply();
                             });
  }

  void read_reply() {
    boost::asio::async_read_until(monitor_, boost::asio::dynamic_buffer(reply_, 4096), '\n',
                                  [self = this->shared_from_this()](error_code ec, size_t n) {
                                    self->on_monitor_reply(ec, n);
                                  });
  }

  void on_monitor_reply(error_code ec, size_t n) {
    if (ec) return reject("no console reply from the VM's monitor: " + ec.message());
    auto reply = nlohmann::json::parse(reply_.substr(0, n), nullptr, false);
    if (!reply.is_object() || reply.value("ok", false) != true) {
      return reject("the VM's monitor refused the console: " + reply_.substr(0, n - 1));
    }
    reply_.erase(0, n);  // anything after the line is console output already
    monitor_.expires_never();
    namespace websocket = boost::beast::websocket;
    auto timeouts = websocket::stream_base::timeout::suggested(boost::beast::role_type::server);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(
        websocket::stream_base::decorator([id = request_id_](websocket::response_type& res) {
          res.set(boost::beast::http::field::server, "flotillad");
          res.set("X-Request-Id", id);
        }));
    ws_.read_message_max(kConsoleMessageMax);
    ws_.async_accept(request_,
                     [self = this->shared_from_this()](error_code e) { self->on_accept(e); });
  }

  // The upgrade cannot happen: answer 503 on the plain HTTP stream and close.
  void reject(const std::string& why) {
    spdlog::warn("console vm={} id={}: {}", upgrade_.vm_id, request_id_, why);
    ApiResponse r = host_.api().transport_error(
        "GET", api_error(ApiErrc::unavailable, "console unavailable: " + why));
    namespace http = boost::beast::http;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), request_.version());
    res->set(http::field::server, "flotillad");
    res->set(http::field::content_type, r.content_type);
    res->set("X-Request-Id", r.request_id);
    res->body() = std::move(r.body);
    res->keep_alive(false);
    res->prepare_payload();
    boost::beast::get_lowest_layer(ws_).expires_after(kMonitorConnectTimeout);
    http::async_write(ws_.next_layer(), *res,
                      [self = this->shared_from_this(), res](error_code, size_t) {
                        error_code ignored;
                        boost::beast::get_lowest_layer(self->ws_).socket().shutdown(
                            boost::asio::socket_base::shutdown_both, ignored);
                      });
  }

  void on_accept(error_code ec) {
    if (ec) {
      spdlog::info("console vm={} id={}: handshake failed: {}", upgrade_.vm_id, request_id_,
                   ec.message());
      return close_monitor();
    }
    accepted_ = true;
    spdlog::info("console attached vm={} id={} write={}", upgrade_.vm_id, request_id_, writer_);
    if (shutting_down_) {
      close_ws(boost::beast::websocket::close_code::going_away, "server shutting down");
      return close_monitor();
    }
    nlohmann::json hello = writer_ ? nlohmann::json{{"console", "read-write"}}
                                   : nlohmann::json{{"console", "read-only"}, {"reason", reason_}};
    line_ = hello.dump();
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(line_),
                    [self = this->shared_from_this()](error_code e, size_t) {
                      if (e) return self->on_ws_failed();
                      self->ws_.binary(true);
                      self->read_ws();
                      if (!self->reply_.empty()) return self->forward_pending();
                      self->read_monitor();
                    });
  }

  void forward_pending() {
    ws_.async_write(boost::asio::buffer(reply_),
                    [self = this->shared_from_this()](error_code e, size_t) {
                      self->reply_.clear();
                      if (e) return self->on_ws_failed();
                      self->read_monitor();
                    });
  }

  // Monitor → client.
  void read_monitor() {
    monitor_.async_read_some(boost::asio::buffer(chunk_),
                             [self = this->shared_from_this()](error_code ec, size_t n) {
                               self->on_monitor_data(ec, n);
                             });
  }

  void on_monitor_data(error_code ec, size_t n) {
    if (ec) {
      // The monitor exited (or we closed it): end the WebSocket normally.
      return close_ws(boost::beast::websocket::close_code::normal, "the VM's console closed");
    }
    ws_.async_write(boost::asio::buffer(chunk_.data(), n),
                    [self = this->shared_from_this()](error_code e, size_t) {
                      if (e) return self->on_ws_failed();
                      self->read_monitor();
                    });
  }

  // Client → monitor.
  void read_ws() {
    ws_.async_read(input_, [self = this->shared_from_this()](error_code ec, size_t n) {
      self->on_ws_data(ec, n);
    });
  }

  void on_ws_data(error_code ec, size_t n) {
    if (ec) return on_ws_failed();
    if (!writer_) {
      input_.consume(n);  // a reader's keystrokes go nowhere
      return read_ws();
    }
    boost::asio::async_write(monitor_, input_.data(),
                             [self = this->shared_from_this()](error_code e, size_t written) {
                               self->input_.consume(written);
                               if (e) {
                                 return self->close_ws(boost::beast::websocket::close_code::normal,
                                                       "the VM's console closed");
                               }
                               self->read_ws();
                             });
  }

  // The client closed or the connection broke: nothing more to send it.
  void on_ws_failed() {
    ws_done_ = true;
    close_monitor();
  }

  void close_ws(boost::beast::websocket::close_code code, const char* reason) {
    if (ws_done_ || closing_ws_ || !accepted_) return;
    closing_ws_ = true;
    ws_.async_close(boost::beast::websocket::close_reason(code, reason),
                    [self = this->shared_from_this()](error_code) {
                      self->ws_done_ = true;
                      self->close_monitor();
                    });
  }

  void close_monitor() {
    error_code ignored;
    monitor_.socket().close(ignored);  // cancels the pending monitor read
  }

  std::shared_ptr<void> owner_;  // the HTTP session that owns the stream; outlives ws_
  boost::beast::websocket::stream<Stream&> ws_;
  boost::beast::basic_stream<unix_socket> monitor_;
  SessionHost& host_;
  ConsoleUpgrade upgrade_;
  Request request_;
  std::string request_id_;
  std::string reason_;  // why a session is read-only
  std::string line_;    // outgoing control line / hello message
  std::string reply_;   // the monitor's reply line, then console bytes that came with it
  std::array<char, kConsoleChunk> chunk_{};
  boost::beast::flat_buffer input_{kConsoleMessageMax};
  bool writer_ = false;
  bool accepted_ = false;
  bool closing_ws_ = false;
  bool ws_done_ = false;
  bool shutting_down_ = false;
};

}  // namespace flotilla::api::server
