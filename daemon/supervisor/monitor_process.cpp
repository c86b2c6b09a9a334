#include "daemon/supervisor/monitor_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/spawn.h"

namespace flotilla::daemon::supervisor {

namespace {

SimpleError sys_error(const std::string& what, int err = errno) {
  return SimpleError{what + ": " + std::strerror(err)};
}

// Atomic against a daemon crash (tmp + rename). No fsync: these files describe processes that
// do not survive a host crash either.
Result<void, SimpleError> write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return fail(SimpleError{"cannot write " + tmp});
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sys_error("rename " + tmp));
  return {};
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

MonitorExit from_wait_status(int code, int status) {
  MonitorExit x;
  x.known = true;
  if (code == CLD_EXITED) {
    x.exit_code = status;
    x.clean = status == 0;
    x.reason = "exited with status " + std::to_string(status);
  } else {
    x.signal = status;
    x.reason = "killed by signal " + std::to_string(status) + " (" + signal_name(status) + ")";
  }
  return x;
}

std::optional<MonitorExit> from_exit_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("exit_code") || !j["exit_code"].is_number_integer()) {
    return std::nullopt;
  }
  MonitorExit x;
  x.known = true;
  x.exit_code = j["exit_code"].get<int>();
  x.clean = x.exit_code == 0;
  x.reason = "exited with status " + std::to_string(x.exit_code);
  if (j.contains("reason") && j["reason"].is_string()) {
    x.reason += " (" + j["reason"].get<std::string>();
    if (j.contains("detail") && j["detail"].is_string() && !j["detail"].get<std::string>().empty())
      x.reason += ": " + j["detail"].get<std::string>();
    x.reason += ")";
  }
  return x;
}

}  // namespace

MonitorPaths monitor_paths(const std::string& state_dir, const std::string& vm_id) {
  MonitorPaths p;
  p.dir = state_dir + "/vms/" + vm_id;
  p.config = p.dir + "/vm.json";
  p.console_log = p.dir + "/console.log";
  p.monitor_log = p.dir + "/monitor.log";
  p.runtime = p.dir + "/monitor.json";
  p.exit_record = p.dir + "/exit.json";
  p.control_socket = state_dir + "/run/vm-" + vm_id + ".sock";
  return p;
}

std::optional<uint64_t> process_start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  rest >> field;  // field 3: state
  if (field == "Z" || field == "X") return std::nullopt;
  for (int i = 4; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return std::nullopt;
  }
}

bool is_alive(const MonitorIdentity& id) {
  auto ticks = process_start_ticks(id.pid);
  return ticks && *ticks == id.start_ticks;
}

namespace {

nlohmann::json rate(uint64_t bytes, uint64_t packets) {
  return {{"bytes_per_sec", bytes}, {"packets_per_sec", packets}};
}

std::string joined_cmdline(const std::string& user, const std::string& extra) {
  if (extra.empty()) return user;
  return user.empty() ? extra : user + " " + extra;
}

nlohmann::json nics_json(const std::vector<MonitorNic>& nics) {
  nlohmann::json list = nlohmann::json::array();
  for (const MonitorNic& n : nics) {
    list.push_back({{"tap", n.tap},
                    {"mac", n.mac},
                    {"rx", rate(n.limits.rx_bytes_per_sec, n.limits.rx_packets_per_sec)},
                    {"tx", rate(n.limits.tx_bytes_per_sec, n.limits.tx_packets_per_sec)}});
  }
  return list;
}

}  // namespace

nlohmann::json nic_limits_request(size_t index, const storage::NicLimits& l) {
  return {{"cmd", "nic_limits"},
          {"index", index},
          {"rx", rate(l.rx_bytes_per_sec, l.rx_packets_per_sec)},
          {"tx", rate(l.tx_bytes_per_sec, l.tx_packets_per_sec)}};
}

std::string monitor_config_json(const storage::VmRecord& vm, const MonitorPaths& paths,
                                bool with_exit_record, const MonitorDevices& devices) {
  const auto& disks = devices.disks;
  nlohmann::json j = {
      {"kernel", vm.spec.boot.kernel},
      {"vcpus", vm.spec.vcpus},
      {"memory_mib", vm.spec.memory_mib},
      {"cmdline", joined_cmdline(vm.spec.boot.cmdline, devices.extra_cmdline)},
      {"control_socket", paths.control_socket},
      {"console_log", paths.console_log},
      {"on_reset", "reboot"},
      {"rng", true},
  };
  if (with_exit_record) j["exit_file"] = paths.exit_record;
  if (vm.spec.memory.mode == storage::MemoryMode::reserved) j["lock_memory"] = true;
  if (!disks.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const MonitorDisk& d : disks) {
      nlohmann::json one = {
          {"path", d.path}, {"format", d.format}, {"read_only", d.read_only}, {"serial", d.serial}};
      if (!d.extents.empty()) {
        nlohmann::json extents = nlohmann::json::array();
        for (const auto& e : d.extents) {
          extents.push_back({{"host_offset", e.host_offset}, {"length", e.length}});
        }
        one["extents"] = extents;
      }
      list.push_back(one);
    }
    j["disks"] = list;
  }
  if (!devices.nics.empty()) j["nics"] = nics_json(devices.nics);
  return j.dump(2) + "\n";
}

Result<MonitorIdentity, SimpleError> spawn_monitor(const std::string& vmm_binary,
                                                   const storage::VmRecord& vm,
                                                   const MonitorPaths& paths, bool with_exit_record,
                                                   const MonitorDevices& devices) {
  if (::mkdir(paths.dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return fail(sys_error("create " + paths.dir));
  }
  auto cfg = write_file_atomically(paths.config,
                                   monitor_config_json(vm, paths, with_exit_record, devices));
  if (!cfg) return fail(cfg.error());
  ::unlink(paths.exit_record.c_str());
  ::unlink(paths.control_socket.c_str());  // a stale socket from a run that crashed

  // The console goes to console_log (and the control socket); stdout would only repeat it.
  SpawnOptions spawn;
  spawn.err = {paths.monitor_log, true};
  auto pid = spawn_detached({vmm_binary, "--config", paths.config}, spawn);
  if (!pid) return fail(sys_error("spawn " + vmm_binary, pid.error().code));

  MonitorIdentity id{*pid, 0};
  auto ticks = process_start_ticks(*pid);
  id.start_ticks = ticks.value_or(0);
  if (auto r = write_runtime(paths.runtime, id); !r) return fail(r.error());
  return id;
}

Result<UniqueFd, SimpleError> open_pidfd(pid_t pid) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return fail(sys_error("pidfd_open " + std::to_string(pid)));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return UniqueFd(fd);
}

bool signal_pidfd(int pidfd, int sig) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

Result<void, SimpleError> write_runtime(const std::string& path, const MonitorIdentity& id) {
  nlohmann::json j = {{"pid", id.pid}, {"start_ticks", id.start_ticks}};
  return write_file_atomically(path, j.dump() + "\n");
}

std::optional<MonitorIdentity> read_runtime(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() ||
      !j.contains("start_ticks") || !j["start_ticks"].is_number_unsigned()) {
    return std::nullopt;
  }
  MonitorIdentity id{j["pid"].get<pid_t>(), j["start_ticks"].get<uint64_t>()};
  if (id.pid <= 1) return std::nullopt;
  return id;
}

MonitorExit collect_exit(int pidfd, bool our_child, const MonitorPaths& paths) {
  if (our_child) {
    siginfo_t info{};
    for (;;) {
      const int r = ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
      if (r == 0 && info.si_pid != 0) return from_wait_status(info.si_code, info.si_status);
      if (r == 0 || errno != EINTR) break;
    }
  }
  if (auto x = from_exit_record(paths.exit_record)) return *x;
  MonitorExit x;
  x.reason = "vanished (exit status unknown: it was not flotillad's child and left no exit record)";
  return x;
}

std::string file_tail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, in.tellg()));
  const size_t n = std::min(size, bytes);
  in.seekg(static_cast<std::streamoff>(size - n));
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

std::string last_lines(const std::string& path, int lines) {
  const std::string text = file_tail(path, 8192);
  std::vector<std::string> kept;
  std::string line;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      if (!line.empty()) kept.push_back(line);
      line.clear();
    } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
      line.push_back(c);
    }
  }
  if (!line.empty()) kept.push_back(line);
  std::string out;
  const size_t from = kept.size() > static_cast<size_t>(lines) ? kept.size() - lines : 0;
  for (size_t i = from; i < kept.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += kept[i];
  }
  return out;
}

}  // namespace flotilla::daemon::supervisor
