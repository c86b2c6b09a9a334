// HttpServerImpl: listeners, the io_context thread pool, the session registry and shutdown.
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "api/server.h"
#include "api/server/sessions.h"
#include "api/server/tls_context.h"

namespace flotilla::api::server {

class HttpServerImpl final : public HttpServer, public SessionHost {
 public:
  HttpServerImpl(const ServerOptions& options, Api& api)
      : options_(options), api_(api), tcp_acceptor_(net::make_strand(ioc_)) {}
  ~HttpServerImpl() override { shutdown(); }

  Result<void, ServerError> bind();
  void start() override;
  void shutdown() override;
  Result<void, ServerError> reload_tls(const TlsFiles& files) override;
  uint16_t tcp_port() const override { return port_; }
  bool tls_enabled() const override { return options_.tls.enabled(); }
  int active_connections() const override { return active_.load(); }

  Api& api() override { return api_; }
  const ServerOptions& options() const override { return options_; }
  bool stopping() const override { return stopping_.load(); }
  void session_started(const std::shared_ptr<SessionBase>& s) override;
  void session_ended() override;
  ConsoleWriters& console_writers() override { return writers_; }

 private:
  Result<void, ServerError> bind_tcp();
  Result<void, ServerError> bind_unix();
  void accept_tcp();
  void accept_unix();
  template <class Acceptor, class Fn>
  void retry_accept(Acceptor& acceptor, const beast::error_code& ec, Fn again);
  std::shared_ptr<net::ssl::context> current_tls();
  bool take_slot();

  ServerOptions options_;
  Api& api_;
  ConsoleWriters writers_;  // before ioc_: sessions still queued in ioc_ die before it
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor tcp_acceptor_;
  std::optional<unix_socket::acceptor> unix_acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int> active_{0};

  std::mutex tls_mu_;
  std::shared_ptr<net::ssl::context> tls_;  // GUARDED_BY(tls_mu_)

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::vector<std::weak_ptr<SessionBase>> sessions_;  // GUARDED_BY(sessions_mu_)
};

Result<void, ServerError> HttpServerImpl::bind() {
  if (options_.tls.enabled()) {
    auto ctx = make_tls_context(options_.tls);
    if (!ctx) return fail(ctx.error());
    tls_ = std::move(ctx).value();
  }
  if (auto r = bind_tcp(); !r) return r;
  if (!options_.unix_socket_path.empty()) return bind_unix();
  return {};
}

Result<void, ServerError> HttpServerImpl::bind_tcp() {
  beast::error_code ec;
  const auto addr = net::ip::make_address(options_.listen_address, ec);
  if (ec)
    return fail(ServerError{"listen address '" + options_.listen_address + "': " + ec.message()});
  const tcp::endpoint ep{addr, options_.listen_port};
  tcp_acceptor_.open(ep.protocol(), ec);
  if (!ec) tcp_acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) tcp_acceptor_.bind(ep, ec);
  if (!ec) tcp_acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ServerError{"listen on " + options_.listen_address + ":" +
                            std::to_string(options_.listen_port) + ": " + ec.message()});
  }
  port_ = tcp_acceptor_.local_endpoint().port();
  return {};
}

Result<void, ServerError> HttpServerImpl::bind_unix() {
  const std::string& path = options_.unix_socket_path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());  // stale
  unix_acceptor_.emplace(net::make_strand(ioc_));
  beast::error_code ec;
  const unix_socket::endpoint ep{path};
  unix_acceptor_->open(ep.protocol(), ec);
  if (!ec) unix_acceptor_->bind(ep, ec);
  if (!ec && ::chmod(path.c_str(), 0660) != 0) ec = {errno, boost::system::system_category()};
  if (!ec) unix_acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail(ServerError{"unix socket " + path + ": " + ec.message()});
  return {};
}

bool HttpServerImpl::take_slot() {
  return active_.fetch_add(1) < options_.max_connections;
}

void HttpServerImpl::accept_tcp() {
  tcp_acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec,
                                                            tcp::socket socket) {
    if (ec) return retry_accept(tcp_acceptor_, ec, [this] { accept_tcp(); });
    const bool over = !take_slot();
    if (auto ctx = current_tls()) {
      auto s = std::make_shared<TlsSession>(std::move(socket), std::move(ctx), *this, over);
      session_started(s);
      s->run();
    } else {
      auto s = std::make_shared<PlainSession<tcp>>(std::move(socket), *this, Transport::tcp, over);
      session_started(s);
      s->run();
    }
    accept_tcp();
  });
}

void HttpServerImpl::accept_unix() {
  unix_acceptor_->async_accept(
      net::make_strand(ioc_), [this](beast::error_code ec, unix_socket::socket socket) {
        if (ec) return retry_accept(*unix_acceptor_, ec, [this] { accept_unix(); });
        const bool over = !take_slot();
        auto s = std::make_shared<PlainSession<unix_socket>>(std::move(socket), *this,
                                                             Transport::unix_socket, over);
        session_started(s);
        s->run();
        accept_unix();
      });
}

template <class Acceptor, class Fn>
void HttpServerImpl::retry_accept(Acceptor& acceptor, const beast::error_code& ec, Fn again) {
  if (ec == net::error::operation_aborted || !acceptor.is_open() || stopping_) return;
  spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
  auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor());
  timer->expires_after(std::chrono::milliseconds(100));
  timer->async_wait([timer, again](beast::error_code) { again(); });
}

std::shared_ptr<net::ssl::context> HttpServerImpl::current_tls() {
  std::lock_guard lock(tls_mu_);
  return tls_;
}

void HttpServerImpl::session_started(const std::shared_ptr<SessionBase>& s) {
  std::lock_guard lock(sessions_mu_);
  std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
  sessions_.push_back(s);
  if (stopping_) s->notify_shutdown();
}

void HttpServerImpl::session_ended() {
  std::lock_guard lock(sessions_mu_);
  active_.fetch_sub(1);
  sessions_cv_.notify_all();
}

void HttpServerImpl::start() {
  work_.emplace(ioc_.get_executor());
  net::dispatch(tcp_acceptor_.get_executor(), [this] { accept_tcp(); });
  if (unix_acceptor_) net::dispatch(unix_acceptor_->get_executor(), [this] { accept_unix(); });
  const int n = std::clamp(options_.threads, 1, 16);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this, i] {
      const std::string name = "api-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      ioc_.run();
    });
  }
}

void HttpServerImpl::shutdown() {
  if (stopped_.exchange(true)) return;
  stopping_ = true;
  net::dispatch(tcp_acceptor_.get_executor(), [this] { tcp_acceptor_.close(); });
  if (unix_acceptor_) {
    net::dispatch(unix_acceptor_->get_executor(), [this] { unix_acceptor_->close(); });
  }
  std::vector<std::weak_ptr<SessionBase>> sessions;
  {
    std::lock_guard lock(sessions_mu_);
    sessions = sessions_;
  }
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->notify_shutdown();
  }
  work_.reset();
  {
    std::unique_lock lock(sessions_mu_);
    const bool drained =
        sessions_cv_.wait_for(lock, std::chrono::milliseconds(options_.drain_timeout_ms),
                              [this] { return active_ == 0; });
    if (!drained)
      spdlog::warn("shutdown: {} connections still open after drain timeout", active_.load());
  }
  ioc_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (!options_.unix_socket_path.empty()) ::unlink(options_.unix_socket_path.c_str());
}

Result<void, ServerError> HttpServerImpl::reload_tls(const TlsFiles& files) {
  if (!options_.tls.enabled()) return fail(ServerError{"TLS is not enabled on this listener"});
  auto ctx = make_tls_context(files);
  if (!ctx) return fail(ctx.error());
  std::lock_guard lock(tls_mu_);
  tls_ = std::move(ctx).value();
  return {};
}

}  // namespace flotilla::api::server

namespace flotilla::api {

Result<std::unique_ptr<HttpServer>, ServerError> HttpServer::create(const ServerOptions& options,
                                                                    Api& api) {
  auto server = std::make_unique<server::HttpServerImpl>(options, api);
  if (auto r = server->bind(); !r) return fail(r.error());
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace flotilla::api
