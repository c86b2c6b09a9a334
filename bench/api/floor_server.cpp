// floor_server: the floor of our own stack for bench/api. A minimal Boost.Beast HTTP/1.1
// server on the same Asio thread-pool model as flotillad that answers every request with one
// fixed JSON body (by default 100 VM objects shaped like GET /v1/vms; run.sh passes the real
// body captured from flotillad with --body). No routing, no auth, no store, no logging.
//
//   floor_server [--port P] [--threads N] [--body FILE]
// Prints "listening on 127.0.0.1:<port>" once bound; SIGINT/SIGTERM stop it.
#include <pthread.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string builtin_body() {
  nlohmann::json items = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "6f1c2b9e-0000-4000-8000-%012d", i);
    items.push_back(
        {{"id", id},
         {"name", "bench-" + std::to_string(i)},
         {"host", "6f1c2b9e-aaaa-4000-8000-000000000000"},
         {"vcpus", 1},
         {"memory_mib", 128},
         {"boot", {{"kernel", "/var/lib/flotilla/vmlinux"}, {"initrd", ""}, {"cmdline", ""}}},
         {"disks", nlohmann::json::array()},
         {"nics", nlohmann::json::array()},
         {"cpu",
          {{"mode", "timeshare"}, {"weight", 100}, {"cap_percent", 0}, {"dedicated_cores", 0}}},
         {"memory", {{"mode", "shared"}}},
         {"restart", "never"},
         {"desired_state", "stopped"},
         {"state", "stopped"},
         {"created_at", "2026-01-01T00:00:00.000Z"},
         {"updated_at", "2026-01-01T00:00:00.000Z"},
         {"generation", 1}});
  }
  return nlohmann::json{{"items", items}}.dump();
}

// One connection: read a request, answer the fixed body, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string& body) : stream_(std::move(socket)), body_(body) {}
  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->respond();
                     });
  }
  void respond() {
    response_ = {};
    response_.version(request_.version());
    response_.result(http::status::ok);
    response_.set(http::field::content_type, "application/json");
    response_.set("X-Request-Id", "floor");
    response_.keep_alive(request_.keep_alive());
    response_.body() = http::span_body<const char>::value_type(body_.data(), body_.size());
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!self->response_.keep_alive()) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::span_body<const char>> response_;
  const std::string& body_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor acceptor, const std::string& body)
      : ioc_(ioc), acceptor_(std::move(acceptor)), body_(body) {}
  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
                             if (ec == asio::error::operation_aborted) return;
                             if (!ec) {
                               s.set_option(tcp::no_delay(true), ec);
                               std::make_shared<Session>(std::move(s), self->body_)->start();
                             }
                             self->accept();
                           });
  }
  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  const std::string& body_;
};

struct Args {
  unsigned short port = 0;
  int threads = 2;
  std::string body_file;
};

bool parse(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") {
      args.port = static_cast<unsigned short>(std::stoi(value));
    } else if (flag == "--threads") {
      args.threads = std::max(1, std::stoi(value));
    } else if (flag == "--body") {
      args.body_file = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) try {
  Args args;
  if (!parse(argc, argv, args)) {
    std::cerr << "usage: floor_server [--port P] [--threads N] [--body FILE]\n";
    return 2;
  }
  std::string body = builtin_body();
  if (!args.body_file.empty()) {
    std::ifstream in(args.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "floor_server: cannot read " << args.body_file << "\n";
      return 1;
    }
    std::ostringstream text;
    text << in.rdbuf();
    body = text.str();
  }
  asio::io_context ioc(args.threads);
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), args.port});
  std::cout << "listening on 127.0.0.1:" << acceptor.local_endpoint().port() << " body "
            << body.size() << " bytes, " << args.threads << " threads" << std::endl;
  auto listener = std::make_shared<Listener>(ioc, std::move(acceptor), body);
  listener->accept();
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    listener->close();
    ioc.stop();
  });
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(args.threads));
  for (int i = 0; i < args.threads; ++i) {
    threads.emplace_back([&ioc, i] {
      std::string name = "floor-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      ioc.run();
    });
  }
  for (auto& t : threads) t.join();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "floor_server: " << e.what() << "\n";
  return 1;
}
