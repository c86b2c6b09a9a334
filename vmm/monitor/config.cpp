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

VmmResult<uint64_t> json_u64(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return config_error(where + " must be a non-negative integer");
  }
  return v.get<uint64_t>();
}

VmmResult<DiskConfig> parse_disk_json(const nlohmann::json& j, size_t index) {
  const std::string at = "disks[" + std::to_string(index) + "]";
  if (!j.is_object()) return config_error(at + " must be an object");
  DiskConfig d;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    const std::string where = at + "." + key;
    if (key == "path" || key == "format" || key == "serial") {
      if (!v.is_string()) return config_error(where + " must be a string");
    } else if (key == "read_only" || key == "direct") {
      if (!v.is_boolean()) return config_error(where + " must be true or false");
    }
    if (key == "path") {
      d.path = v.get<std::string>();
    } else if (key == "format") {
      auto f = storage::parse_image_format(v.get<std::string>());
      if (!f) return config_error(where + " must be \"raw\" or \"qcow2\"");
      d.format = *f;
    } else if (key == "read_only") {
      d.read_only = v.get<bool>();
    } else if (key == "serial") {
      d.serial = v.get<std::string>();
    } else if (key == "direct") {
      d.direct = v.get<bool>();
    } else if (key == "extents") {
      if (!v.is_array()) return config_error(where + " must be an array");
      for (size_t e = 0; e < v.size(); ++e) {
        const std::string ew = where + "[" + std::to_string(e) + "]";
        if (!v[e].is_object()) return config_error(ew + " must be an object");
        storage::HostExtent x;
        for (auto f = v[e].begin(); f != v[e].end(); ++f) {
          auto n = json_u64(f.value(), ew + "." + f.key());
          if (!n) return fail(n.error());
          if (f.key() == "host_offset") {
            x.host_offset = *n;
          } else if (f.key() == "length") {
            x.length = *n;
          } else {
            return config_error("unknown config key \"" + ew + "." + f.key() + "\"");
          }
        }
        d.extents.push_back(x);
      }
    } else {
      return config_error("unknown config key \"" + where + "\"");
    }
  }
  if (d.path.empty()) return config_error(at + ".path is required");
  return d;
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
  } else if (key == "lock_memory") {
    c.lock_memory = v.get<bool>();
  } else if (key == "disks") {
    if (!v.is_array()) return config_error("disks must be an array");
    std::vector<DiskConfig> disks;
    for (size_t i = 0; i < v.size(); ++i) {
      auto d = parse_disk_json(v[i], i);
      if (!d) return fail(d.error());
      disks.push_back(std::move(*d));
    }
    c.disks = std::move(disks);
  } else if (key == "nics") {
    if (!v.is_array()) return config_error("nics must be an array");
    std::vector<NicConfig> nics;
    for (size_t i = 0; i < v.size(); ++i) {
      auto n = parse_nic_json(v[i], i);
      if (!n) return fail(n.error());
      nics.push_back(std::move(*n));
    }
    c.nics = std::move(nics);
  } else {
    return config_error("unknown config key \"" + key + "\"");
  }
  return {};
}

}  // namespace

storage::OpenOptions open_options(const DiskConfig& disk) {
  storage::OpenOptions o;
  o.path = disk.path;
  o.format = disk.format;
  o.read_only = disk.read_only;
  o.direct = disk.direct;
  o.extents = disk.extents;
  return o;
}

VmmResult<DiskConfig> parse_disk_flag(const std::string& text) {
  DiskConfig d;
  size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(start, comma - start);
    start = comma + 1;
    if (first) {
      d.path = part;
      first = false;
      continue;
    }
    if (part == "ro") {
      d.read_only = true;
    } else if (part == "direct") {
      d.direct = true;
    } else if (part.rfind("format=", 0) == 0) {
      auto f = storage::parse_image_format(part.substr(7));
      if (!f) return config_error("--disk " + text + ": format must be raw or qcow2");
      d.format = *f;
    } else if (part.rfind("serial=", 0) == 0) {
      d.serial = part.substr(7);
    } else {
      return config_error("--disk " + text + ": unknown option \"" + part +
                          "\" (PATH[,format=raw|qcow2][,ro][,serial=ID][,direct])");
    }
  }
  if (d.path.empty()) return config_error("--disk needs a path");
  return d;
}

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
  app.add_flag("--lock-memory", flags.lock_memory, "prefault and mlock guest RAM (reserved)");
  std::vector<std::string> disk_flags;
  app.add_option("--disk", disk_flags,
                 "virtio-blk disk PATH[,format=raw|qcow2][,ro][,serial=ID][,direct] (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  std::vector<std::string> nic_flags;
  app.add_option("--nic", nic_flags,
                 "virtio-net NIC TAP,mac=MAC[,rx_bytes=N][,rx_packets=N][,tx_bytes=N]"
                 "[,tx_packets=N] (per second; repeatable)")
      ->take_all()
      ->allow_extra_args(false);
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
  if (app.count("--lock-memory")) c.lock_memory = flags.lock_memory;
  if (!disk_flags.empty()) {  // the flags' list replaces the file's
    c.disks.clear();
    for (const std::string& text : disk_flags) {
      auto d = parse_disk_flag(text);
      if (!d) return fail(d.error());
      c.disks.push_back(std::move(*d));
    }
  }
  if (!nic_flags.empty()) {  // the flags' list replaces the file's
    c.nics.clear();
    for (const std::string& text : nic_flags) {
      auto n = parse_nic_flag(text);
      if (!n) return fail(n.error());
      c.nics.push_back(std::move(*n));
    }
  }
  if (!on_reset.empty()) {
    auto r = parse_on_reset(on_reset);
    if (!r) return fail(r.error());
    c.on_reset = *r;
  }
  return std::optional<VmConfig>(std::move(c));
}

namespace {

VmmResult<void> validate_disks(const VmConfig& c) {
  if (c.disks.size() > kMaxDisks) {
    return config_error("at most " + std::to_string(kMaxDisks) + " disks (got " +
                        std::to_string(c.disks.size()) + ")");
  }
  for (size_t i = 0; i < c.disks.size(); ++i) {
    const DiskConfig& d = c.disks[i];
    const std::string at = "disk " + std::to_string(i) + " (" + d.path + "): ";
    if (d.path.empty()) return config_error(at + "no path");
    if (d.serial.size() > 20) return config_error(at + "serial is longer than 20 bytes");
    if (!d.extents.empty() && d.format != storage::ImageFormat::kRaw) {
      return config_error(at + "extents are only for raw disks");
    }
    auto opened = storage::open_image(open_options(d));
    if (!opened) {
      std::string why = opened.error().message;
      if (why.rfind(d.path + ": ", 0) == 0) why = why.substr(d.path.size() + 2);
      return config_error(at + why);
    }
    if ((*opened)->size_bytes() < 512) return config_error(at + "smaller than one sector");
  }
  return {};
}

}  // namespace

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
  if (auto r = validate_disks(c); !r) return fail(r.error());
  if (auto r = validate_nics(c.nics); !r) return fail(r.error());
  if (c.nics.size() + c.disks.size() + (c.rng ? 1 : 0) > layout::kVirtioSlots) {
    return config_error("more virtio devices than virtio-mmio slots (" +
                        std::to_string(layout::kVirtioSlots) + ")");
  }
  return warnings;
}

HostLimits host_limits_from_system(uint32_t max_vcpus, uint32_t recommended_vcpus) {
  struct sysinfo si {};
  sysinfo(&si);
  return HostLimits{static_cast<uint64_t>(si.totalram) * si.mem_unit, max_vcpus, recommended_vcpus};
}

}  // namespace flotilla::vmm
