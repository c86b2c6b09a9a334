#include "vmm/monitor/config.h"

#include <sys/sysinfo.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vmm/arch/x86_64/mptable.h"
#include "vmm/arch/x86_64/pvh_elf.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {
namespace {

Unexpected<VmmError> config_error(const std::string& m) {
  return vmm_fail(VmmErrc::kConfig, m);
}

VmmResult<OnReset> parse_on_reset(const std::string& s) {
  if (s == "reboot") return OnReset::kReboot;
  if (s == "exit") return OnReset::kExit;
  return config_error("on_reset must be \"reboot\" or \"exit\", not \"" + s + "\"");
}

VmmResult<void> apply_key(const std::string& key, const nlohmann::json& v, VmConfig& c) {
  if (key == "kernel") {
    c.kernel = v.get<std::string>();
  } else if (key == "vcpus") {
    const auto n = v.get<int64_t>();
    if (n < 0 || n > 100000) return config_error("vcpus must be between 1 and the KVM limit");
    c.vcpus = static_cast<uint32_t>(n);
  } else if (key == "memory_mib") {
    const auto n = v.get<int64_t>();
    if (n < 0) return config_error("memory_mib must not be negative");
    c.memory_mib = static_cast<uint64_t>(n);
  } else if (key == "cmdline") {
    c.cmdline = v.get<std::string>();
  } else if (key == "control_socket") {
    c.control_socket = v.get<std::string>();
  } else if (key == "console_log") {
    c.console_log = v.get<std::string>();
  } else if (key == "exit_file") {
    c.exit_file = v.get<std::string>();
  } else if (key == "on_reset") {
    auto r = parse_on_reset(v.get<std::string>());
    if (!r) return fail(r.error());
    c.on_reset = *r;
  } else if (key == "rng") {
    c.rng = v.get<bool>();
  } else {
    return config_error("unknown config key \"" + key + "\"");
  }
  return {};
}

}  // namespace

VmmResult<void> apply_config_json(const std::string& text, VmConfig& config) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return config_error(std::string("config is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return config_error("config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    try {
      if (auto r = apply_key(it.key(), it.value(), config); !r) return r;
    } catch (const nlohmann::json::exception&) {
      return config_error("config key \"" + it.key() + "\" has the wrong type");
    }
  }
  return {};
}

VmmResult<std::optional<VmConfig>> parse_command_line(int argc, const char* const* argv) {
  CLI::App app("flotilla-vmm: run one guest on /dev/kvm", "flotilla-vmm");
  std::string config_file, on_reset;
  VmConfig flags;
  app.add_option("--config", config_file, "VM definition (JSON)");
  app.add_option("--kernel", flags.kernel, "PVH ELF kernel");
  app.add_option("--vcpus", flags.vcpus, "number of vCPUs");
  app.add_option("--memory-mib", flags.memory_mib, "guest RAM in MiB");
  app.add_option("--cmdline", flags.cmdline, "kernel command line");
  app.add_option("--control-socket", flags.control_socket, "Unix control socket path");
  app.add_option("--console-log", flags.console_log, "append console output to this file");
  app.add_option("--exit-file", flags.exit_file, "write the exit record (JSON) here on exit");
  app.add_option("--on-reset", on_reset, "reboot|exit");
  app.add_flag("--rng", flags.rng, "add a virtio-rng device");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return std::optional<VmConfig>();
  } catch (const CLI::ParseError& e) {
    return config_error(e.what());
  }
  VmConfig c;
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) return config_error("cannot read config file " + config_file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto r = apply_config_json(ss.str(), c); !r) return fail(r.error());
  }
  if (app.count("--kernel")) c.kernel = flags.kernel;
  if (app.count("--vcpus")) c.vcpus = flags.vcpus;
  if (app.count("--memory-mib")) c.memory_mib = flags.memory_mib;
  if (app.count("--cmdline")) c.cmdline = flags.cmdline;
  if (app.count("--control-socket")) c.control_socket = flags.control_socket;
  if (app.count("--console-log")) c.console_log = flags.console_log;
  if (app.count("--exit-file")) c.exit_file = flags.exit_file;
  if (app.count("--rng")) c.rng = flags.rng;
  if (!on_reset.empty()) {
    auto r = parse_on_reset(on_reset);
    if (!r) return fail(r.error());
    c.on_reset = *r;
  }
  return std::optional<VmConfig>(std::move(c));
}

VmmResult<std::vector<std::string>> validate_config(const VmConfig& c, const HostLimits& host) {
  std::vector<std::string> warnings;
  if (c.memory_mib == 0) return config_error("memory_mib must be at least 2 (got 0)");
  if (c.memory_mib > host.memory_bytes / layout::kMiB) {
    return config_error("memory_mib " + std::to_string(c.memory_mib) + " exceeds host RAM (" +
                        std::to_string(host.memory_bytes / layout::kMiB) + " MiB)");
  }
  if (c.memory_mib * layout::kMiB < layout::kMinMemory) {
    return config_error("memory_mib must be at least 2");
  }
  const uint32_t limit = std::min<uint32_t>(host.max_vcpus, 254);
  if (c.vcpus == 0 || c.vcpus > limit) {
    return config_error("vcpus must be between 1 and " + std::to_string(limit) + " (got " +
                        std::to_string(c.vcpus) + ")");
  }
  if (c.vcpus > host.recommended_vcpus) {
    warnings.push_back("vcpus " + std::to_string(c.vcpus) + " is above KVM's recommended " +
                       std::to_string(host.recommended_vcpus));
  }
  if (c.cmdline.size() > layout::kCmdlineMax) {
    return config_error("cmdline is " + std::to_string(c.cmdline.size()) +
                        " bytes, the limit is 2048");
  }
  if (c.kernel.empty()) return config_error("no kernel given (--kernel or \"kernel\")");
  const uint64_t ram = c.memory_mib * layout::kMiB;
  auto file = read_kernel_file(c.kernel, ram);
  if (!file) return config_error(file.error().message);
  auto memory_layout = compute_layout(ram);
  if (!memory_layout) return config_error(memory_layout.error().message);
  auto image = parse_pvh_elf(*file, *memory_layout);
  if (!image) return config_error("kernel " + c.kernel + ": " + image.error().message);
  return warnings;
}

HostLimits host_limits_from_system(uint32_t max_vcpus, uint32_t recommended_vcpus) {
  struct sysinfo si {};
  sysinfo(&si);
  return HostLimits{static_cast<uint64_t>(si.totalram) * si.mem_unit, max_vcpus, recommended_vcpus};
}

}  // namespace flotilla::vmm
