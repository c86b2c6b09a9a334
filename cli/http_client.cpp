// HttpClient on Boost.Beast. Every operation is asynchronous on a private io_context and run to
// completion, so the stream's deadline (beast::basic_stream::expires_after) applies to each step.
#include "cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace flotilla::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using UnixStream = beast::basic_stream<asio::local::stream_protocol>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using boost::system::error_code;

namespace {

HttpError error_from(HttpErrorCode code, std::string_view what, const error_code& ec) {
  if (ec == beast::error::timeout) code = HttpErrorCode::kTimeout;
  return HttpError{code, std::string(what) + ": " + ec.message()};
}

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

// Errors that mean "the server closed the kept-alive connection before we spoke".
bool stale_connection(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

}  // namespace

struct HttpClient::Impl {
  ClientOptions options;
  asio::io_context ioc;
  std::optional<ssl::context> tls_ctx;
  std::optional<beast::tcp_stream> tcp_stream;
  std::optional<TlsStream> tls_stream;
  std::optional<UnixStream> unix_stream;
  beast::flat_buffer buffer;
  bool connected = false;
  error_code last_ec;

  // Runs the posted operation to completion.
  void run() {
    ioc.restart();
    ioc.run();
  }

  Result<void, HttpError> connect();
  Result<void, HttpError> connect_tcp(beast::tcp_stream& stream);
  Result<HttpResponse, HttpError> exchange(const HttpRequest& request);
  template <class Stream>
  Result<HttpResponse, HttpError> exchange_on(Stream& stream,
                                              http::request<http::string_body>& req);
  void close();
};

Result<void, HttpError> HttpClient::Impl::connect_tcp(beast::tcp_stream& stream) {
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

Result<void, HttpError> HttpClient::Impl::connect() {
  const Endpoint& ep = options.endpoint;
  buffer.clear();
  error_code ec;
  switch (ep.transport) {
    case Transport::kTcp: {
      tcp_stream.emplace(ioc);
      auto r = connect_tcp(*tcp_stream);
      if (!r) return r;
      break;
    }
    case Transport::kTls: {
      tls_stream.emplace(ioc, *tls_ctx);
      auto r = connect_tcp(beast::get_lowest_layer(*tls_stream));
      if (!r) return r;
      if (!options.tls.insecure) {
        tls_stream->set_verify_mode(ssl::verify_peer);
        tls_stream->set_verify_callback(ssl::host_name_verification(ep.host));
      }
      error_code addr_ec;
      asio::ip::make_address(ep.host, addr_ec);
      // SAFETY: native_handle() is the live SSL* owned by tls_stream; the name is copied.
      if (addr_ec && !SSL_set_tlsext_host_name(tls_stream->native_handle(), ep.host.c_str())) {
        return fail(HttpError{HttpErrorCode::kTls, "cannot set TLS server name"});
      }
      beast::get_lowest_layer(*tls_stream).expires_after(options.timeout);
      tls_stream->async_handshake(ssl::stream_base::client, [&](error_code e) { ec = e; });
      run();
      if (ec)
        return fail(error_from(HttpErrorCode::kTls, "TLS handshake with " + describe(ep), ec));
      break;
    }
    case Transport::kUnix: {
      unix_stream.emplace(ioc);
      unix_stream->expires_after(options.timeout);
      unix_stream->async_connect(asio::local::stream_protocol::endpoint(ep.socket_path),
                                 [&](error_code e) { ec = e; });
      run();
      if (ec) {
        return fail(error_from(HttpErrorCode::kConnect, "cannot connect to " + describe(ep), ec));
      }
      break;
    }
  }
  connected = true;
  return {};
}

void HttpClient::Impl::close() {
  error_code ignored;
  if (tcp_stream) tcp_stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (tls_stream) beast::get_lowest_layer(*tls_stream).socket().close(ignored);
  if (unix_stream) unix_stream->socket().close(ignored);
  tcp_stream.reset();
  tls_stream.reset();
  unix_stream.reset();
  connected = false;
}

template <class Stream>
Result<HttpResponse, HttpError> HttpClient::Impl::exchange_on(
    Stream& stream, http::request<http::string_body>& req) {
  error_code ec;
  beast::get_lowest_layer(stream).expires_after(options.timeout);
  http::async_write(stream, req, [&](error_code e, std::size_t) { ec = e; });
  run();
  last_ec = ec;
  if (ec) return fail(error_from(HttpErrorCode::kIo, "sending request", ec));
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.body_limit);
  beast::get_lowest_layer(stream).expires_after(options.timeout);
  http::async_read(stream, buffer, parser, [&](error_code e, std::size_t) { ec = e; });
  run();
  last_ec = ec;
  if (ec) return fail(error_from(HttpErrorCode::kIo, "reading response", ec));
  auto msg = parser.release();
  HttpResponse response;
  response.status = static_cast<int>(msg.result_int());
  for (const auto& field : msg) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(msg.body());
  if (!msg.keep_alive()) close();
  return response;
}

Result<HttpResponse, HttpError> HttpClient::Impl::exchange(const HttpRequest& request) {
  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(options.endpoint.base_path + request.target);
  req.version(11);
  const Endpoint& ep = options.endpoint;
  req.set(http::field::host, ep.transport == Transport::kUnix ? "localhost" : ep.host);
  req.set(http::field::user_agent, "flotilla-cli");
  req.set(http::field::accept, "application/json");
  if (!options.bearer_token.empty()) {
    req.set(http::field::authorization, "Bearer " + options.bearer_token);
  }
  if (!request.body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.keep_alive(true);
  req.prepare_payload();
  switch (ep.transport) {
    case Transport::kTcp:
      return exchange_on(*tcp_stream, req);
    case Transport::kTls:
      return exchange_on(*tls_stream, req);
    case Transport::kUnix:
      return exchange_on(*unix_stream, req);
  }
  return fail(HttpError{HttpErrorCode::kIo, "unknown transport"});
}

Result<HttpClient, HttpError> HttpClient::create(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  if (options.endpoint.transport == Transport::kTls) {
    impl->tls_ctx.emplace(ssl::context::tls_client);
    error_code ec;
    if (!options.tls.ca_file.empty()) {
      impl->tls_ctx->load_verify_file(options.tls.ca_file, ec);
      if (ec) {
        return fail(
            error_from(HttpErrorCode::kTlsSetup, "cannot load CA file " + options.tls.ca_file, ec));
      }
    } else {
      impl->tls_ctx->set_default_verify_paths(ec);
    }
  }
  impl->options = std::move(options);
  return HttpClient(std::move(impl));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() {
  if (impl_) impl_->close();
}

Result<HttpResponse, HttpError> HttpClient::send(const HttpRequest& request) {
  bool reused = impl_->connected;
  if (!reused) {
    auto c = impl_->connect();
    if (!c) return fail(c.error());
  }
  auto response = impl_->exchange(request);
  if (!response && impl_->connected) impl_->close();
  if (!response && reused && idempotent(request.method) && stale_connection(impl_->last_ec)) {
    auto c = impl_->connect();
    if (!c) return fail(c.error());
    response = impl_->exchange(request);
    if (!response) impl_->close();
  }
  return response;
}

void HttpClient::close() {
  impl_->close();
}

}  // namespace flotilla::cli
