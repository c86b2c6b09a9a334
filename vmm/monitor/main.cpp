// flotilla-vmm: one guest per process (team/VMM.md "Monitor process"). Exit status: 0 guest
// power-off / stop / reset with on_reset=exit (or the exit device's value), 1 host or guest
// failure, 2 invalid definition (refused before any VM exists). With an exit file every one
// of those ends also leaves the exit record (vmm/monitor/exit_record.h).
#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "vmm/arch/x86_64/pvh_elf.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/layout.h"
#include "vmm/monitor/config.h"
#include "vmm/monitor/exit_record.h"
#include "vmm/monitor/monitor.h"

using namespace flotilla::vmm;

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;

// Writes the exit record (if an exit file is configured) and returns its exit code.
int finish(const std::string& exit_file, const ExitRecord& record) {
  if (!exit_file.empty()) {
    if (auto r = write_exit_record(exit_file, record); !r) {
      std::fprintf(stderr, "flotilla-vmm: %s\n", r.error().message.c_str());
    }
  }
  return record.exit_code;
}

int refuse(const std::string& exit_file, const std::string& message) {
  std::fprintf(stderr, "flotilla-vmm: %s\n", message.c_str());
  return finish(exit_file, {kExitInvalid, ExitReason::kInvalidDefinition, message});
}

// A supervisor may start us with fd 0, 1 or 2 closed: point them at /dev/null so that no
// later open (the KVM fds, the control socket) lands on a standard fd the console or the
// logger writes to.
void ensure_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    const int null_fd = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null_fd >= 0 && null_fd != fd) {
      ::dup2(null_fd, fd);
      ::close(null_fd);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  ensure_standard_fds();
  block_monitor_signals();  // before any thread exists
  spdlog::set_default_logger(spdlog::stderr_color_mt("flotilla-vmm"));
  spdlog::set_pattern("flotilla-vmm: [%l] %v");
  auto parsed = parse_command_line(argc, argv);
  if (!parsed) return refuse(find_exit_file(argc, argv), parsed.error().message);
  if (!parsed->has_value()) return 0;  // --help
  VmConfig config = std::move(**parsed);
  const std::string exit_file = config.exit_file;
  // A record left by an earlier run must not be mistaken for this run's.
  if (!exit_file.empty()) ::unlink(exit_file.c_str());

  auto kvm = Kvm::open();
  if (!kvm) {
    std::fprintf(stderr, "flotilla-vmm: %s\n", kvm.error().message.c_str());
    return finish(exit_file, {kExitFailure, ExitReason::kHostError, kvm.error().message});
  }
  const HostLimits limits = host_limits_from_system(
      static_cast<uint32_t>(kvm->max_vcpus()), static_cast<uint32_t>(kvm->recommended_vcpus()));
  auto warnings = validate_config(config, limits);
  if (!warnings) return refuse(exit_file, warnings.error().message);
  for (const auto& w : *warnings) spdlog::warn("{}", w);

  auto kernel = read_kernel_file(config.kernel, config.memory_mib * layout::kMiB);
  if (!kernel) return refuse(exit_file, kernel.error().message);
  auto monitor = Monitor::create(config, std::move(*kvm), std::move(*kernel));
  if (!monitor) {
    std::fprintf(stderr, "flotilla-vmm: %s\n", monitor.error().message.c_str());
    return finish(exit_file, {kExitFailure, ExitReason::kHostError, monitor.error().message});
  }
  ExitRecord record = (*monitor)->run();
  monitor->reset();  // services stopped, socket removed: the record is the very last thing
  return finish(exit_file, record);
}
