#include "vmm/monitor/exit_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/unique_fd.h"

namespace flotilla::vmm {

const char* exit_reason_name(ExitReason r) {
  switch (r) {
    case ExitReason::kPowerOff:
      return "poweroff";
    case ExitReason::kStop:
      return "stop";
    case ExitReason::kSignal:
      return "signal";
    case ExitReason::kResetExit:
      return "reset_exit";
    case ExitReason::kGuestCrash:
      return "guest_crash";
    case ExitReason::kHostError:
      return "host_error";
    case ExitReason::kInvalidDefinition:
      return "invalid_definition";
  }
  return "host_error";
}

std::string exit_record_json(const ExitRecord& record, int64_t at_ms) {
  std::string detail = record.detail;
  for (char& ch : detail) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  const nlohmann::ordered_json j = {{"exit_code", record.exit_code},
                                    {"reason", exit_reason_name(record.reason)},
                                    {"detail", detail},
                                    {"at_ms", at_ms}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

VmmResult<void> write_exit_record(const std::string& path, const ExitRecord& record) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string text =
      exit_record_json(record, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd) return vmm_errno(VmmErrc::kIo, "exit file " + tmp);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        auto err = vmm_errno(VmmErrc::kIo, "exit file " + tmp);
        ::unlink(tmp.c_str());
        return err;
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      auto err = vmm_errno(VmmErrc::kIo, "fsync " + tmp);
      ::unlink(tmp.c_str());
      return err;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = vmm_errno(VmmErrc::kIo, "rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return err;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());  // the rename itself durable; best effort
  return {};
}

std::string find_exit_file(int argc, const char* const* argv) {
  const std::string flag = "--exit-file";
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == flag && i + 1 < argc) return argv[i + 1];
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
    if (a == "--config" && i + 1 < argc) config_file = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) config_file = a.substr(9);
  }
  if (config_file.empty()) return "";
  std::ifstream in(config_file);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("exit_file") ||
      !j["exit_file"].is_string()) {
    return "";
  }
  return j["exit_file"].get<std::string>();
}

}  // namespace flotilla::vmm
