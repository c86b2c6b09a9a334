// ControlServer: the per-guest Unix control socket (mode 0600), line-delimited JSON, served on
// the device thread's EventLoop. Each request line `{"cmd":...}` gets one reply line
// `{"ok":true,...}` or `{"ok":false,"error":"..."}`. `console` turns the connection into a raw
// byte stream of console output (and input, with "write":true); see vmm/README.md.
// Threads: everything runs on the loop thread; create/destroy while the loop is not running
// callbacks for it (before run() or after it returned), or on the loop thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/unique_fd.h"
#include "vmm/event/event_loop.h"
#include "vmm/kvm/error.h"
#include "vmm/monitor/console.h"

namespace flotilla::vmm {

class ControlServer {
 public:
  // Answers every command except console / console_tail, which the server handles itself.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  static constexpr size_t kMaxLine = 64 * 1024;

  static VmmResult<std::unique_ptr<ControlServer>> create(const std::string& path, EventLoop& loop,
                                                          Console& console, Handler handler);
  ~ControlServer();

 private:
  struct Client {
    UniqueFd fd;
    std::string buffer;
    bool console = false;
    bool console_write = false;
    uint64_t subscription = 0;
  };
  ControlServer(std::string path, UniqueFd listener, EventLoop& loop, Console& console,
                Handler handler);
  void on_accept();
  void on_readable(int fd);
  bool handle_line(Client& c, const std::string& line);  // false: close the client
  void close_client(int fd);
  static bool send_line(int fd, const nlohmann::json& j);

  std::string path_;
  UniqueFd listener_;
  EventLoop& loop_;
  Console& console_;
  Handler handler_;
  std::map<int, Client> clients_;  // loop thread only
};

// One JSON value per line with invalid UTF-8 replaced (console bytes may be anything).
std::string json_line(const nlohmann::json& j);

}  // namespace flotilla::vmm
