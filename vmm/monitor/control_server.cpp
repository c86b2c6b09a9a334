#include "vmm/monitor/control_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace flotilla::vmm {
namespace {

VmmResult<UniqueFd> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return vmm_fail(VmmErrc::kIo, "control socket path is too long: " + path);
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return vmm_errno(VmmErrc::kIo, "socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());  // a stale socket from a previous run
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc < 0) return vmm_errno(VmmErrc::kIo, "bind " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(fd.get(), 16) < 0) return vmm_errno(VmmErrc::kIo, "listen " + path);
  return fd;
}

}  // namespace

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

VmmResult<std::unique_ptr<ControlServer>> ControlServer::create(const std::string& path,
                                                                EventLoop& loop, Console& console,
                                                                Handler handler) {
  auto fd = listen_unix(path);
  if (!fd) return fail(fd.error());
  std::unique_ptr<ControlServer> s(
      new ControlServer(path, std::move(*fd), loop, console, std::move(handler)));
  auto r = loop.add_fd(s->listener_.get(), [p = s.get()] { p->on_accept(); });
  if (!r) return vmm_fail(VmmErrc::kIo, "control socket: " + r.error().message);
  return s;
}

ControlServer::ControlServer(std::string path, UniqueFd listener, EventLoop& loop, Console& console,
                             Handler handler)
    : path_(std::move(path)),
      listener_(std::move(listener)),
      loop_(loop),
      console_(console),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  while (!clients_.empty()) close_client(clients_.begin()->first);
  loop_.remove_fd(listener_.get());
  ::unlink(path_.c_str());
}

void ControlServer::on_accept() {
  UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;
  const int raw = fd.get();
  auto r = loop_.add_fd(raw, [this, raw] { on_readable(raw); });
  if (!r) return;
  clients_[raw].fd = std::move(fd);
}

void ControlServer::on_readable(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = it->second;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close_client(fd);
  if (c.console) {
    if (c.console_write) {
      console_.input({reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n)});
    }
    return;
  }
  c.buffer.append(buf, static_cast<size_t>(n));
  size_t nl;
  while (!c.console && (nl = c.buffer.find('\n')) != std::string::npos) {
    const std::string line = c.buffer.substr(0, nl);
    c.buffer.erase(0, nl + 1);
    if (!handle_line(c, line)) return close_client(fd);
  }
  if (c.console && c.console_write && !c.buffer.empty()) {
    console_.input({reinterpret_cast<const uint8_t*>(c.buffer.data()), c.buffer.size()});
  }
  if (c.console) c.buffer.clear();
  if (c.buffer.size() > kMaxLine) {
    send_line(fd, {{"ok", false}, {"error", "request line too long"}});
    close_client(fd);
  }
}

bool ControlServer::handle_line(Client& c, const std::string& line) {
  nlohmann::json req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
    return send_line(c.fd.get(), {{"ok", false}, {"error", "expected {\"cmd\":\"...\"}"}});
  }
  const std::string cmd = req["cmd"];
  if (cmd == "console") {
    c.console = true;
    c.console_write = req.value("write", false);
    if (!send_line(c.fd.get(), {{"ok", true}, {"write", c.console_write}})) return false;
    c.subscription = console_.subscribe(c.fd.get());
    return true;
  }
  if (cmd == "console_tail") {
    const auto n = req.value("bytes", static_cast<uint64_t>(Console::kRingSize));
    return send_line(c.fd.get(), {{"ok", true}, {"data", console_.tail(n)}});
  }
  return send_line(c.fd.get(), handler_(req));
}

bool ControlServer::send_line(int fd, const nlohmann::json& j) {
  const std::string s = json_line(j);
  size_t done = 0;
  for (int spins = 0; done < s.size() && spins < 1000; ++spins) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return done == s.size();
}

void ControlServer::close_client(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  if (it->second.subscription != 0) console_.unsubscribe(it->second.subscription);
  loop_.remove_fd(fd);
  clients_.erase(it);
}

}  // namespace flotilla::vmm
