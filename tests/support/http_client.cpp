#include "tests/support/http_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace flotilla::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [n, v] : headers) {
    if (n == lower_name) return v;
  }
  return {};
}

nlohmann::json HttpResponse::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

HttpClient HttpClient::tcp(std::string host, uint16_t port) {
  HttpClient c;
  c.kind_ = Kind::tcp;
  c.host_ = std::move(host);
  c.port_ = port;
  return c;
}

HttpClient HttpClient::unix_socket(std::string path) {
  HttpClient c;
  c.kind_ = Kind::unix_socket;
  c.path_ = std::move(path);
  c.host_ = "localhost";
  return c;
}

HttpClient HttpClient::tls(std::string host, uint16_t port, std::string ca_file) {
  HttpClient c = tcp(std::move(host), port);
  c.kind_ = Kind::tls;
  c.ca_file_ = std::move(ca_file);
  return c;
}

HttpClient HttpClient::with_token(std::string token) const {
  HttpClient c = *this;
  c.token_ = std::move(token);
  return c;
}

HttpClient HttpClient::with_timeout(std::chrono::milliseconds t) const {
  HttpClient c = *this;
  c.timeout_ = t;
  return c;
}

HttpResponse HttpClient::get(const std::string& target) const {
  return request("GET", target, "", {});
}
HttpResponse HttpClient::del(const std::string& target) const {
  return request("DELETE", target, "", {});
}
HttpResponse HttpClient::post(const std::string& target, const std::string& body,
                              const std::string& content_type) const {
  return request("POST", target, body, {{"Content-Type", content_type}});
}
HttpResponse HttpClient::patch(const std::string& target, const std::string& body,
                               std::vector<std::pair<std::string, std::string>> headers) const {
  headers.emplace_back("Content-Type", "application/json");
  return request("PATCH", target, body, headers);
}

namespace {

template <class Stream>
HttpResponse exchange(Stream& stream, http::request<http::string_body>& req) {
  HttpResponse out;
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream, buffer, parser);
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return out;
}

}  // namespace

HttpResponse HttpClient::request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) const {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host_);
  req.keep_alive(false);
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  for (const auto& [n, v] : headers) req.set(n, v);
  req.body() = body;
  if (!body.empty() || method == "POST" || method == "PATCH") req.prepare_payload();
  try {
    net::io_context ioc;
    if (kind_ == Kind::unix_socket) {
      beast::basic_stream<net::local::stream_protocol> stream(ioc);
      stream.expires_after(timeout_);
      stream.socket().connect(net::local::stream_protocol::endpoint(path_));
      return exchange(stream, req);
    }
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout_);
    stream.connect(tcp::endpoint(net::ip::make_address(host_), port_));
    if (kind_ == Kind::tcp) return exchange(stream, req);
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.load_verify_file(ca_file_);
    ctx.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream&> tls(stream, ctx);
    tls.handshake(net::ssl::stream_base::client);
    return exchange(tls, req);
  } catch (const std::exception& e) {
    HttpResponse r;
    r.error = e.what();
    return r;
  }
}

RawExchange raw_exchange(uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  RawExchange out;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    boost::system::error_code ec;
    net::write(sock, net::buffer(bytes.data(), bytes.size()), ec);  // may fail once refused
    const auto deadline = t0 + timeout;
    char buf[4096];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(sock.native_handle(), buf, sizeof buf, 0);
      if (n <= 0) {
        out.closed_by_server = true;
        break;
      }
      out.received.append(buf, static_cast<size_t>(n));
    }
  } catch (const std::exception&) {
    out.closed_by_server = true;
  }
  out.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return out;
}

int raw_status(std::string_view raw) {
  if (raw.size() < 12 || raw.substr(0, 5) != "HTTP/") return 0;
  const size_t sp = raw.find(' ');
  if (sp == std::string_view::npos || sp + 4 > raw.size()) return 0;
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (raw[i] < '0' || raw[i] > '9') return 0;
    code = code * 10 + (raw[i] - '0');
  }
  return code;
}

}  // namespace flotilla::test
