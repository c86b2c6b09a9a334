// Helpers for the flotilla-vmm integration tests: paths of the monitor and the probe guest
// (compile definitions), spawning the monitor under GuestConsole in a temp dir, and a control
// socket client with deadlines.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/guest_console.h"

namespace flotilla::vmm::test {

using namespace std::chrono_literals;
using flotilla::test::ConsoleClock;
using flotilla::test::GuestConsole;

inline const std::string kVmm = FLOTILLA_VMM_PATH;
inline const std::string kProbe = FLOTILLA_PROBE_PATH;
inline const std::regex kReady("flotilla-probe ready");

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vmm-it-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Starts flotilla-vmm with the probe guest and extra flags; fails the test if it cannot spawn.
inline std::unique_ptr<GuestConsole> start_vmm(std::vector<std::string> extra) {
  std::vector<std::string> argv = {kVmm, "--kernel", kProbe, "--memory-mib", "64"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto c = GuestConsole::spawn(argv);
  if (!c) {
    ADD_FAILURE() << "cannot spawn " << kVmm << ": " << c.error().message;
    return nullptr;
  }
  return std::move(*c);
}

inline bool wait_ready(GuestConsole& c, ConsoleClock::duration timeout = 20s) {
  return c.wait_for(kReady, timeout).has_value();
}

// A connection to the monitor's control socket.
class ControlClient {
 public:
  static std::optional<ControlClient> connect(const std::string& path,
                                              ConsoleClock::duration timeout = 10s) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (ConsoleClock::now() < deadline) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        return ControlClient(std::move(fd));
      }
      std::this_thread::sleep_for(20ms);  // the monitor is still starting
    }
    return std::nullopt;
  }

  std::optional<nlohmann::json> request(const nlohmann::json& req,
                                        ConsoleClock::duration timeout = 10s) {
    const std::string line = req.dump() + "\n";
    if (::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(line.size())) {
      return std::nullopt;
    }
    auto reply = read_line(ConsoleClock::now() + timeout);
    if (!reply) return std::nullopt;
    return nlohmann::json::parse(*reply, nullptr, false);
  }

  // Reads raw bytes until `needle` shows up (console stream) or the deadline passes.
  bool read_until(const std::string& needle, ConsoleClock::duration timeout) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (buffer_.find(needle) == std::string::npos) {
      if (!fill(deadline)) return false;
    }
    buffer_.erase(0, buffer_.find(needle) + needle.size());
    return true;
  }
  // Like read_until, but hands over what came before `needle`.
  bool read_into(std::string& out, const std::string& needle, ConsoleClock::duration timeout) {
    const auto deadline = ConsoleClock::now() + timeout;
    while (buffer_.find(needle) == std::string::npos) {
      if (!fill(deadline)) return false;
    }
    const size_t at = buffer_.find(needle);
    out = buffer_.substr(0, at);
    buffer_.erase(0, at + needle.size());
    return true;
  }
  bool send_raw(const std::string& bytes) {
    return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

 private:
  explicit ControlClient(UniqueFd fd) : fd_(std::move(fd)) {}
  bool fill(ConsoleClock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - ConsoleClock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }
  std::optional<std::string> read_line(ConsoleClock::time_point deadline) {
    while (buffer_.find('\n') == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    const size_t nl = buffer_.find('\n');
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    return line;
  }

  UniqueFd fd_;
  std::string buffer_;
};

// The value of `key=<n>` in a probe output line, or -1.
inline long long field(const std::string& line, const std::string& key) {
  const auto at = line.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::stoll(line.substr(at + key.size() + 1));
}

}  // namespace flotilla::vmm::test
