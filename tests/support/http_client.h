// HttpClient for tests: a small synchronous Boost.Beast client over TCP, TLS or a Unix socket,
// one connection per request. Never throws: transport failures come back as status 0 with the
// reason in `error`. Link flotilla_test_daemon.
//
//   auto c = flotilla::test::HttpClient::tcp("127.0.0.1", port).with_token(token);
//   auto r = c.post("/v1/vms", R"({"name":"a","boot":{"kernel":"/k"}})");
//   EXPECT_EQ(r.status, 201) << r.body;
//   auto id = r.json()["id"];
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace flotilla::test {

struct HttpResponse {
  int status = 0;     // 0: the request did not complete, see error
  std::string error;  // transport error text, "" on success
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case

  std::string header(std::string_view lower_name) const;  // "" if absent
  // The body parsed as JSON (a discarded value if it is not JSON).
  nlohmann::json json() const;
};

class HttpClient {
 public:
  static HttpClient tcp(std::string host, uint16_t port);
  static HttpClient unix_socket(std::string path);
  // TLS over TCP, verifying the server against ca_file (PEM).
  static HttpClient tls(std::string host, uint16_t port, std::string ca_file);

  HttpClient with_token(std::string token) const;  // adds "Authorization: Bearer <token>"
  HttpClient with_timeout(std::chrono::milliseconds t) const;

  HttpResponse get(const std::string& target) const;
  HttpResponse del(const std::string& target) const;
  // Content-Type application/json unless given.
  HttpResponse post(const std::string& target, const std::string& body,
                    const std::string& content_type = "application/json") const;
  HttpResponse patch(const std::string& target, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers = {}) const;
  // Any request; headers are sent as given (no Content-Type added).
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers) const;

 private:
  enum class Kind { tcp, tls, unix_socket };
  Kind kind_ = Kind::tcp;
  std::string host_;
  uint16_t port_ = 0;
  std::string path_;     // unix socket
  std::string ca_file_;  // tls
  std::string token_;
  std::chrono::milliseconds timeout_{10000};
};

// Sends raw bytes to 127.0.0.1:port and returns everything the server sends back before it
// closes the connection or `timeout` passes (for malformed-request tests).
struct RawExchange {
  std::string received;
  bool closed_by_server = false;  // EOF/reset seen before the timeout
  std::chrono::milliseconds elapsed{0};
};
RawExchange raw_exchange(uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// The status code of the first HTTP response in `raw` (0 if none).
int raw_status(std::string_view raw);

}  // namespace flotilla::test
