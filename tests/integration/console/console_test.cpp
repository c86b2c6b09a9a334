// The console over REST and WebSocket against a real monitor: a flotilla-vmm running the probe
// guest, an in-process Api + HttpServer (TCP and Unix socket) whose VmControl returns that
// monitor's real control socket, real clients (cli::HttpClient, cli::WebSocketClient) and the
// real `flotilla` binary.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>

#include <atomic>
#include <regex>
#include <thread>

#include "api/api.h"
#include "api/server.h"
#include "cli/http_client.h"
#include "cli/websocket_client.h"
#include "storage/state_store.h"
#include "tests/integration/cli/cli_runner.h"
#include "tests/integration/vmm/vmm_harness.h"

namespace flotilla::vmm::test {
namespace {

using storage::Role;

// The seam the daemon's supervisor will implement, here for one monitor started by the test.
class OneMonitorVms final : public api::VmControl {
 public:
  explicit OneMonitorVms(std::string socket) : socket_(std::move(socket)) {}
  api::ApiResult<api::ActionOutcome> act(const storage::VmRecord&, api::VmAction,
                                         const api::ActionOptions&) override {
    return fail(api::api_error(api::ApiErrc::unavailable, "not in this test"));
  }
  api::ApiResult<std::string> console_tail(const storage::VmRecord&, size_t bytes) override {
    auto ctl = ControlClient::connect(socket_, 5s);
    if (!ctl) return fail(api::api_error(api::ApiErrc::unavailable, "monitor unreachable"));
    auto r = ctl->request({{"cmd", "console_tail"}, {"bytes", bytes}});
    if (!r || !r->is_object() || (*r)["ok"] != true) {
      return fail(api::api_error(api::ApiErrc::unavailable, "no console_tail reply"));
    }
    return (*r)["data"].get<std::string>();
  }
  api::ApiResult<nlohmann::json> stats(const storage::VmRecord&) override {
    return fail(api::api_error(api::ApiErrc::unavailable, "not in this test"));
  }
  api::ApiResult<std::string> control_socket(const storage::VmRecord&) override { return socket_; }
  std::string metrics_text() override { return {}; }
  api::ApiResult<void> apply_nic_limits(const storage::VmRecord&, size_t,
                                        const storage::NicLimits&) override {
    return {};
  }

 private:
  std::string socket_;
};

// A WebSocket with what it received so far.
struct Console {
  cli::WebSocketClient ws;
  std::string bytes;               // binary messages, concatenated
  std::vector<std::string> texts;  // text messages
  std::string error;               // why the last read ended early

  // Reads until `re` matches the collected bytes; false at the deadline or on close.
  bool read_until(const std::regex& re, ConsoleClock::duration timeout) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (!std::regex_search(bytes, re)) {
      if (!read_one(deadline)) return false;
    }
    return true;
  }
  // The first text message (the server's hello).
  std::optional<nlohmann::json> hello(ConsoleClock::duration timeout = 10s) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (texts.empty()) {
      if (!read_one(deadline)) return std::nullopt;
    }
    return nlohmann::json::parse(texts.front(), nullptr, false);
  }
  // Reads until the server closes; the error code of the end (kClosed for a clean close).
  std::optional<cli::HttpErrorCode> read_to_end(ConsoleClock::duration timeout) {
    const auto deadline = ConsoleClock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ConsoleClock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = ws.read(left);
      if (!m) {
        if (m.error().code == cli::HttpErrorCode::kTimeout) return std::nullopt;
        return m.error().code;
      }
      (m->text ? texts.emplace_back() : bytes) += m->data;
    }
  }

 private:
  bool read_one(ConsoleClock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ConsoleClock::now());
    if (left.count() <= 0) return false;
    auto m = ws.read(left);
    if (!m) {
      error = m.error().message;
      return false;
    }
    if (m->text) {
      texts.push_back(m->data);
    } else {
      bytes += m->data;
    }
    return true;
  }
};

// "(^|\n)<word>\r?\nOK": the probe's answer to `echo <word>` (not the echo of the typed line).
std::regex answer(const std::string& word) {
  return std::regex("(^|\\n)" + word + "\\r?\\nOK\\r?\\n");
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vmm_ = start_vmm({"--control-socket", dir_.file("ctl.sock")});
    ASSERT_TRUE(vmm_);
    ASSERT_TRUE(wait_ready(*vmm_)) << vmm_->output() << vmm_->stderr_output();
    auto store = storage::StateStore::open({dir_.file("flotilla.db"), 5000, "host-1"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    storage::VmSpec spec;
    spec.name = "probe";
    spec.boot.kernel = kProbe;
    auto vm = store_->create_vm(spec);
    ASSERT_TRUE(vm.ok()) << vm.error().message;
    vm_id_ = vm->id;
    for (Role role : {Role::viewer, Role::helpdesk, Role::operator_, Role::admin}) {
      const std::string secret = api::generate_token();
      auto t = store_->create_token(std::string(storage::to_string(role)), role,
                                    api::token_sha256_hex(secret), 0);
      ASSERT_TRUE(t.ok());
      tokens_[role] = secret;
    }
    vms_ = std::make_unique<OneMonitorVms>(dir_.file("ctl.sock"));
    api::ApiDeps deps;
    deps.store = store_.get();
    deps.host_info = [] { return api::HostInfo{}; };
    deps.vms = vms_.get();
    api_ = api::Api::create(std::move(deps));
    api::ServerOptions opts;
    opts.listen_port = 0;
    opts.unix_socket_path = dir_.file("api.sock");
    opts.read_timeout_ms = 2000;  // the console must outlive the HTTP read deadline
    opts.drain_timeout_ms = 5000;
    auto server = api::HttpServer::create(opts, *api_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->shutdown();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->tcp_port()); }

  cli::ClientOptions options(const std::string& token, bool unix_socket = false) {
    cli::ClientOptions o;
    o.endpoint = *cli::parse_url(unix_socket ? "unix:" + dir_.file("api.sock") : url());
    o.bearer_token = token;
    o.timeout = 10s;
    return o;
  }

  Result<cli::WebSocketClient, cli::WsConnectError> connect(const std::string& token,
                                                            const std::string& query = "",
                                                            bool unix_socket = false) {
    cli::HttpRequest req;
    req.target = "/v1/vms/probe/console/ws" + query;
    return cli::WebSocketClient::connect(options(token, unix_socket), req);
  }

  std::optional<Console> attach(Role role, const std::string& query = "",
                                bool unix_socket = false) {
    auto ws = connect(tokens_[role], query, unix_socket);
    if (!ws) {
      ADD_FAILURE() << "attach as " << storage::to_string(role) << ": " << ws.error().error.message
                    << (ws.error().response ? " body " + ws.error().response->body : "");
      return std::nullopt;
    }
    return Console{std::move(*ws), {}, {}, {}};
  }

  cli::HttpResponse get(const std::string& target, Role role) {
    auto client = cli::HttpClient::create(options(tokens_[role]));
    EXPECT_TRUE(client.ok());
    cli::HttpRequest req;
    req.target = target;
    auto r = client->send(req);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : cli::HttpResponse{};
  }

  static std::string code(const cli::HttpResponse& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
  }

  TempDir dir_;
  std::unique_ptr<GuestConsole> vmm_;
  std::unique_ptr<storage::StateStore> store_;
  std::string vm_id_;
  std::map<Role, std::string> tokens_;
  std::unique_ptr<OneMonitorVms> vms_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<api::HttpServer> server_;
};

TEST_F(ConsoleTest, RestTailHasTheBootMarkerAndChecksItsArguments) {
  auto r = get("/v1/vms/probe/console?bytes=4096", Role::helpdesk);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_NE(j["data"].get<std::string>().find("flotilla-probe ready"), std::string::npos) << r.body;
  EXPECT_EQ(j["bytes"].get<size_t>(), j["data"].get<std::string>().size());
  EXPECT_LE(j["bytes"].get<size_t>(), 4096u);
  auto by_id = get("/v1/vms/" + vm_id_ + "/console", Role::helpdesk);
  EXPECT_EQ(by_id.status, 200) << by_id.body;
  for (const char* bad : {"0", "65537", "x", "-1", "12x"}) {
    auto e = get(std::string("/v1/vms/probe/console?bytes=") + bad, Role::admin);
    EXPECT_EQ(e.status, 422) << bad << " " << e.body;
    EXPECT_EQ(code(e), "validation_failed");
  }
  EXPECT_EQ(get("/v1/vms/probe/console", Role::viewer).status, 403);
  EXPECT_EQ(get("/v1/vms/nope/console", Role::admin).status, 404);
}

TEST_F(ConsoleTest, AWriterTypesAndReadsTheAnswer) {
  auto c = attach(Role::operator_);
  ASSERT_TRUE(c);
  auto hello = c->hello();
  ASSERT_TRUE(hello) << c->error;
  EXPECT_EQ(*hello, (nlohmann::json{{"console", "read-write"}}));
  ASSERT_TRUE(c->ws.write("echo hello\r").ok());
  EXPECT_TRUE(c->read_until(answer("hello"), 10s)) << c->bytes << c->error;
  // The guest got it once, through the monitor (its own stdout shows the same answer).
  EXPECT_TRUE(vmm_->wait_for(answer("hello"), 5s)) << vmm_->output();
  c->ws.close();
}

TEST_F(ConsoleTest, ASecondWriterIsDowngradedUntilTheFirstLeaves) {
  auto first = attach(Role::operator_);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->hello().value_or(nullptr), (nlohmann::json{{"console", "read-write"}}));
  auto second = attach(Role::admin);
  ASSERT_TRUE(second);
  auto hello = second->hello();
  ASSERT_TRUE(hello) << second->error;
  EXPECT_EQ(*hello,
            (nlohmann::json{{"console", "read-only"}, {"reason", "another writer is attached"}}));
  ASSERT_TRUE(second->ws.write("echo dropped1\r").ok());
  ASSERT_TRUE(first->ws.write("echo kept1\r").ok());
  ASSERT_TRUE(first->read_until(answer("kept1"), 10s)) << first->bytes;
  ASSERT_TRUE(second->read_until(answer("kept1"), 10s)) << second->bytes;  // readers see output
  EXPECT_EQ(first->bytes.find("dropped1"), std::string::npos) << first->bytes;
  EXPECT_EQ(vmm_->output().find("dropped1"), std::string::npos) << vmm_->output();

  first->ws.close();
  // The writer slot is free once the first session has ended (shortly after its close).
  const auto deadline = ConsoleClock::now() + 10s;
  bool granted = false;
  while (!granted && ConsoleClock::now() < deadline) {
    auto next = attach(Role::operator_);
    ASSERT_TRUE(next);
    auto h = next->hello();
    ASSERT_TRUE(h);
    granted = (*h)["console"] == "read-write";
    if (!granted) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(granted) << "the writer slot was not released";
}

TEST_F(ConsoleTest, HelpdeskIsReadOnlyAndItsInputIsNotDelivered) {
  auto helpdesk = attach(Role::helpdesk);
  ASSERT_TRUE(helpdesk);
  auto hello = helpdesk->hello();
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["console"], "read-only");
  EXPECT_EQ((*hello)["reason"], "read-only token or ?mode=read");
  ASSERT_TRUE(helpdesk->ws.write("echo secret42\r").ok());
  ASSERT_TRUE(helpdesk->ws.write("echo secret43\r", /*text=*/true).ok());
  // A writer attached after the helpdesk gets write access (a reader holds no slot) and its
  // input arrives after the helpdesk's: when its answer is out, the helpdesk's would be too.
  auto op = attach(Role::operator_);
  ASSERT_TRUE(op);
  ASSERT_EQ(op->hello().value_or(nullptr), (nlohmann::json{{"console", "read-write"}}));
  ASSERT_TRUE(op->ws.write("echo visible\r").ok());
  ASSERT_TRUE(op->read_until(answer("visible"), 10s)) << op->bytes;
  ASSERT_TRUE(helpdesk->read_until(answer("visible"), 10s)) << helpdesk->bytes;
  ASSERT_TRUE(vmm_->wait_for(answer("visible"), 5s));
  EXPECT_EQ(vmm_->output().find("secret4"), std::string::npos) << vmm_->output();
  EXPECT_EQ(helpdesk->bytes.find("secret4"), std::string::npos) << helpdesk->bytes;
  // ?mode=read makes an operator a reader too, here over the Unix socket listener.
  auto watcher = attach(Role::operator_, "?mode=read", /*unix_socket=*/true);
  ASSERT_TRUE(watcher);
  EXPECT_EQ(watcher->hello().value_or(nullptr)["console"], "read-only");
  auto bad_mode = connect(tokens_[Role::operator_], "?mode=rw");
  ASSERT_FALSE(bad_mode.ok());
  ASSERT_TRUE(bad_mode.error().response);
  EXPECT_EQ(bad_mode.error().response->status, 422);
  auto viewer = connect(tokens_[Role::viewer]);
  ASSERT_FALSE(viewer.ok());
  ASSERT_TRUE(viewer.error().response);
  EXPECT_EQ(viewer.error().response->status, 403);
}

TEST_F(ConsoleTest, AccessTokenInTheQueryWorksForTheWebSocketOnly) {
  auto ws = connect("", "?access_token=" + tokens_[Role::operator_]);
  ASSERT_TRUE(ws.ok()) << ws.error().error.message
                       << (ws.error().response ? ws.error().response->body : "");
  Console c{std::move(*ws), {}, {}, {}};
  EXPECT_EQ(c.hello().value_or(nullptr)["console"], "read-write");
  c.ws.close();

  auto wrong = connect("", "?access_token=flt_not-a-real-token");
  ASSERT_FALSE(wrong.ok());
  ASSERT_TRUE(wrong.error().response);
  EXPECT_EQ(wrong.error().response->status, 401);
  auto none = connect("");
  ASSERT_FALSE(none.ok());
  ASSERT_TRUE(none.error().response);
  EXPECT_EQ(none.error().response->status, 401);
  // Other routes ignore it.
  auto client = cli::HttpClient::create(options(""));
  cli::HttpRequest req;
  req.target = "/v1/vms/probe/console?access_token=" + tokens_[Role::admin];
  auto tail = client->send(req);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->status, 401);
}

TEST_F(ConsoleTest, APlainGetOfTheWebSocketRouteIs400) {
  auto r = get("/v1/vms/probe/console/ws", Role::admin);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(code(r), "bad_request");
  // "Upgrade: websocket" without the rest of a handshake: the route accepts, the server refuses.
  auto client = cli::HttpClient::create(options(tokens_[Role::admin]));
  cli::HttpRequest req;
  req.target = "/v1/vms/probe/console/ws";
  req.headers = {{"Upgrade", "websocket"}};
  auto half = client->send(req);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->status, 400) << half->body;
  EXPECT_EQ(code(*half), "bad_request");
}

TEST_F(ConsoleTest, TheSocketClosesWhenTheMonitorDies) {
  auto c = attach(Role::operator_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->hello());
  ASSERT_EQ(::kill(vmm_->pid(), SIGKILL), 0);
  auto end = c->read_to_end(10s);
  ASSERT_TRUE(end) << "the console stayed open after the monitor died";
  EXPECT_EQ(*end, cli::HttpErrorCode::kClosed);
  EXPECT_EQ(c->ws.close_reason(), "the VM's console closed");
  // With the monitor gone a new attach is a 503, not a WebSocket.
  auto again = connect(tokens_[Role::operator_]);
  ASSERT_FALSE(again.ok());
  ASSERT_TRUE(again.error().response) << again.error().error.message;
  EXPECT_EQ(again.error().response->status, 503);
}

TEST_F(ConsoleTest, ServerShutdownClosesAttachedConsoles) {
  auto c = attach(Role::operator_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->hello());
  auto reader = attach(Role::helpdesk, "", /*unix_socket=*/true);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->hello());
  const auto t0 = ConsoleClock::now();
  std::thread stopper([this] { server_->shutdown(); });
  auto end = c->read_to_end(10s);
  auto end2 = reader->read_to_end(10s);
  stopper.join();
  EXPECT_LT(ConsoleClock::now() - t0, 4s) << "shutdown waited for the consoles to time out";
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, cli::HttpErrorCode::kClosed);
  EXPECT_EQ(c->ws.close_reason(), "server shutting down");
  ASSERT_TRUE(end2);
  EXPECT_EQ(*end2, cli::HttpErrorCode::kClosed);
  EXPECT_EQ(server_->active_connections(), 0);
}

TEST_F(ConsoleTest, TheIdleConsoleOutlivesTheHttpReadDeadline) {
  auto c = attach(Role::operator_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->hello());
  std::this_thread::sleep_for(3s);  // read_timeout_ms is 2000: an HTTP session would be gone
  ASSERT_TRUE(c->ws.write("echo still\r").ok());
  EXPECT_TRUE(c->read_until(answer("still"), 10s)) << c->bytes << c->error;
}

TEST_F(ConsoleTest, TheCliConsoleWorksThroughAPipe) {
  using cli::testing::run_flotilla;
  cli::testing::CliEnv env;
  env.stdin_text = "echo piped\r";
  env.deadline = std::chrono::seconds(30);
  auto r =
      run_flotilla({"console", "probe", "--url", url(), "--token", tokens_[Role::operator_]}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, answer("piped")))
      << "stdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find("read-write"), std::string::npos) << r.err;

  // --read-only over the Unix socket: the input is not sent.
  env.stdin_text = "echo unsent\r";
  auto ro = run_flotilla({"console", "probe", "--read-only", "--url",
                          "unix:" + dir_.file("api.sock"), "--token", tokens_[Role::operator_]},
                         env);
  EXPECT_EQ(ro.exit_code, 0) << ro.err;
  EXPECT_NE(ro.err.find("read-only"), std::string::npos) << ro.err;
  EXPECT_EQ(vmm_->output().find("unsent"), std::string::npos) << vmm_->output();

  auto tail = run_flotilla(
      {"console", "probe", "--tail", "--url", url(), "--token", tokens_[Role::helpdesk]});
  EXPECT_EQ(tail.exit_code, 0) << tail.err;
  EXPECT_NE(tail.out.find("flotilla-probe ready"), std::string::npos) << tail.out;
  auto tail_n = run_flotilla(
      {"console", "probe", "--tail", "100", "--url", url(), "--token", tokens_[Role::helpdesk]});
  EXPECT_EQ(tail_n.exit_code, 0) << tail_n.err;
  EXPECT_LE(tail_n.out.size(), 100u);

  auto missing =
      run_flotilla({"console", "nope", "--url", url(), "--token", tokens_[Role::operator_]}, env);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;
}

// On a terminal: raw mode while attached (the guest, not the tty, echoes), Ctrl-] detaches,
// and the terminal's settings are back afterwards.
TEST_F(ConsoleTest, TheCliConsoleOnATerminalIsRawAndCtrlRightBracketDetaches) {
  const std::string u = url(), token = tokens_[Role::operator_];
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << "forkpty: " << std::strerror(errno);
  if (pid == 0) {
    ::execl(FLOTILLA_CLI_PATH, "flotilla", "console", "probe", "--url", u.c_str(), "--token",
            token.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  UniqueFd m(master);
  std::string out;
  auto read_until = [&](const std::string& needle, ConsoleClock::duration timeout) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (out.find(needle) == std::string::npos && ConsoleClock::now() < deadline) {
      pollfd p{m.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(m.get(), buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out.find(needle) != std::string::npos;
  };
  ASSERT_TRUE(read_until("Ctrl-] to detach", 10s)) << out;
  ASSERT_TRUE(read_until("read-write", 10s)) << out;
  struct termios attached {};
  ASSERT_EQ(::tcgetattr(m.get(), &attached), 0);
  EXPECT_EQ(attached.c_lflag & (ICANON | ECHO), 0u) << "not in raw mode";
  ASSERT_EQ(::write(m.get(), "echo ttyok\r", 11), 11);
  EXPECT_TRUE(read_until("ttyok\r\nOK", 10s)) << out;
  ASSERT_EQ(::write(m.get(), "\x1d", 1), 1);
  EXPECT_TRUE(read_until("detached", 10s)) << out;
  struct termios after {};
  ASSERT_EQ(::tcgetattr(m.get(), &after), 0);
  EXPECT_EQ(after.c_lflag & (ICANON | ECHO), static_cast<tcflag_t>(ICANON | ECHO))
      << "terminal not restored";
  int status = 0;
  const auto deadline = ConsoleClock::now() + 10s;
  pid_t r = 0;
  while ((r = ::waitpid(pid, &status, WNOHANG)) == 0 && ConsoleClock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  if (r == 0) ::kill(pid, SIGKILL), ::waitpid(pid, &status, 0);
  ASSERT_EQ(r, pid) << "flotilla console did not exit after Ctrl-]";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(ConsoleTest, TheConsoleWorksOverTls) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      dir_.file("tls.key") + " -out " + dir_.file("tls.crt") + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the openssl CLI is needed: " << cmd;
  api::ServerOptions opts;
  opts.listen_port = 0;
  opts.tls = {dir_.file("tls.crt"), dir_.file("tls.key")};
  auto tls_server = api::HttpServer::create(opts, *api_);
  ASSERT_TRUE(tls_server.ok()) << tls_server.error().message;
  (*tls_server)->start();
  cli::ClientOptions o;
  o.endpoint = *cli::parse_url("https://127.0.0.1:" + std::to_string((*tls_server)->tcp_port()));
  o.tls.ca_file = dir_.file("tls.crt");
  o.bearer_token = tokens_[Role::admin];
  o.timeout = 10s;
  cli::HttpRequest req;
  req.target = "/v1/vms/probe/console/ws";
  auto ws = cli::WebSocketClient::connect(o, req);
  ASSERT_TRUE(ws.ok()) << ws.error().error.message;
  Console c{std::move(*ws), {}, {}, {}};
  EXPECT_EQ(c.hello().value_or(nullptr)["console"], "read-write");
  ASSERT_TRUE(c.ws.write("echo secure\r").ok());
  EXPECT_TRUE(c.read_until(answer("secure"), 10s)) << c.bytes << c.error;
  std::thread stopper([&] { (*tls_server)->shutdown(); });
  auto end = c.read_to_end(10s);
  stopper.join();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, cli::HttpErrorCode::kClosed);
}

}  // namespace
}  // namespace flotilla::vmm::test
