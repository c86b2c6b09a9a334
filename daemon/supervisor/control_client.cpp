#include "daemon/supervisor/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/unique_fd.h"

namespace flotilla::daemon::supervisor {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxReply = 1 << 20;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

Result<UniqueFd, SimpleError> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return fail(SimpleError{"control socket path too long: " + path});
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail(SimpleError{std::string("socket: ") + std::strerror(errno)});
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(SimpleError{"connect " + path + ": " + std::strerror(errno)});
  }
  return fd;
}

Result<void, SimpleError> send_all(int fd, const std::string& data, Clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      return fail(SimpleError{std::string("send: ") + std::strerror(errno)});
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
      return fail(SimpleError{"timed out sending to the monitor"});
    }
  }
  return {};
}

Result<std::string, SimpleError> read_line(int fd, Clock::time_point deadline) {
  std::string buf;
  char chunk[4096];
  for (;;) {
    const size_t nl = buf.find('\n');
    if (nl != std::string::npos) return buf.substr(0, nl);
    if (buf.size() > kMaxReply) return fail(SimpleError{"monitor reply too long"});
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return fail(SimpleError{"timed out waiting for the monitor's reply"});
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0) return fail(SimpleError{"the monitor closed the control connection"});
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail(SimpleError{std::string("recv: ") + std::strerror(errno)});
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

Result<nlohmann::json, SimpleError> control_call(const std::string& socket_path,
                                                 const nlohmann::json& request, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto fd = connect_unix(socket_path);
  if (!fd) return fail(fd.error());
  if (auto r = send_all(fd->get(), request.dump() + "\n", deadline); !r) return fail(r.error());
  auto line = read_line(fd->get(), deadline);
  if (!line) return fail(line.error());
  auto reply = nlohmann::json::parse(*line, nullptr, false);
  if (!reply.is_object() || !reply.contains("ok")) {
    return fail(SimpleError{"malformed reply from the monitor"});
  }
  if (reply["ok"] != true) {
    const auto& e = reply.contains("error") && reply["error"].is_string()
                        ? reply["error"].get<std::string>()
                        : std::string("request refused");
    return fail(SimpleError{"monitor: " + e});
  }
  return reply;
}

}  // namespace flotilla::daemon::supervisor
