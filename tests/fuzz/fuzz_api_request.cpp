// libFuzzer target: raw HTTP/1.1 request bytes through the server's own request path without
// a socket: Beast's parser with the server's limits (ServerOptions defaults), the session's
// to_api_request(), then Api::handle() on a real StateStore in a temporary folder.
// "$TOKEN" in the input is replaced by a valid admin token so the fuzzer reaches the handlers.
// Invariants: never a 500 (bad input is 4xx), every error body is the contract's error JSON,
// every response has a request id.
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api.h"
#include "api/server.h"
#include "api/server/session.h"
#include "spec_invariants.h"
#include "storage/state_store.h"

namespace {

using namespace flotilla;
namespace http = boost::beast::http;

struct Harness {
  std::string dir;
  std::unique_ptr<storage::StateStore> store;
  std::unique_ptr<api::Api> api;
  std::string admin_token;
  std::uint64_t runs = 0;
  bool verbose = getenv("FLOTILLA_FUZZ_VERBOSE") != nullptr;  // print each request's status

  Harness() {
    spdlog::set_level(spdlog::level::off);
    char tmpl[] = "/dev/shm/flotilla-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) fuzz::violated("mkdtemp in /dev/shm");
    dir = tmpl;
    auto s = storage::StateStore::open({dir + "/flotilla.db", 5000, "fuzz-host"});
    if (!s) fuzz::violated("StateStore::open");
    store = std::move(*s);
    api::ApiDeps deps;
    deps.store = store.get();
    deps.host_info = [] {
      api::HostInfo h;
      h.hostname = "fuzz";
      h.host_id = "fuzz-host";
      h.cores = 2;
      return h;
    };
    api = api::Api::create(std::move(deps));
    admin_token = api::generate_token();
    auto t = store->create_token("fuzz-admin", storage::Role::admin,
                                 api::token_sha256_hex(admin_token), 0);
    if (!t) fuzz::violated("create_token");
  }
  ~Harness() {
    api.reset();
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Keeps the store small so GET /v1/vms stays cheap over a long run.
  void trim() {
    if (++runs % 256 != 0) return;
    auto vms = store->list_vms();
    if (!vms || vms->size() < 64) return;
    for (const auto& vm : *vms) (void)store->delete_vm(vm.id);
  }
};

Harness& harness() {
  static Harness h;
  return h;
}

std::string with_token(std::string raw, const std::string& token) {
  for (std::size_t at = raw.find("$TOKEN"); at != std::string::npos; at = raw.find("$TOKEN")) {
    raw.replace(at, 6, token);
  }
  return raw;
}

void check_response(const api::ApiResponse& r) {
  FLOTILLA_FUZZ_CHECK(r.status >= 200 && r.status < 600);
  FLOTILLA_FUZZ_CHECK(r.status != 500);
  FLOTILLA_FUZZ_CHECK(!r.request_id.empty());
  if (r.status < 400) return;
  auto body = nlohmann::json::parse(r.text(), nullptr, false);
  FLOTILLA_FUZZ_CHECK(body.is_object() && body.contains("error"));
  const auto& e = body["error"];
  FLOTILLA_FUZZ_CHECK(e.is_object() && e.contains("code") && e["code"].is_string());
  FLOTILLA_FUZZ_CHECK(e.contains("message") && e["message"].is_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = harness();
  std::string raw =
      with_token(std::string(reinterpret_cast<const char*>(data), size), h.admin_token);
  const api::ServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.body_limit(limits.body_limit_bytes);
  parser.header_limit(limits.header_limit_bytes);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(raw), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) {
    if (auto e = api::server::read_error_response(ec)) fuzz::check_rejection(*e);
    return 0;
  }
  auto request = api::server::to_api_request(parser.release(), api::Transport::unix_socket);
  auto response = h.api->handle(request);
  if (h.verbose)
    std::fprintf(stderr, "%s %s -> %d\n", request.method.c_str(), request.target.c_str(),
                 response.status);
  check_response(response);
  h.trim();
  return 0;
}
