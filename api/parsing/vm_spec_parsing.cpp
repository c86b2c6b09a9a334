// parse_vm_create / apply_vm_patch: the POST and PATCH bodies of /v1/vms into a VmSpec.
#include <cctype>

#include "api/parsing/field_reader.h"
#include "api/request_parsing.h"
#include "common/uuid.h"

namespace flotilla::api {

using namespace parsing;  // NOLINT: the readers are this file's vocabulary
using storage::VmSpec;

namespace {

Status apply_boot(const Json& v, storage::BootSource& boot) {
  FLT_RETURN_IF_ERROR(expect_object(v, "boot"));
  FLT_RETURN_IF_ERROR(check_keys(v, "boot", {"kernel", "initrd", "cmdline"}));
  if (auto it = v.find("kernel"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_host_path(*it, "boot.kernel", false, boot.kernel));
  }
  if (auto it = v.find("initrd"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_host_path(*it, "boot.initrd", true, boot.initrd));
  }
  if (auto it = v.find("cmdline"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_string(*it, "boot.cmdline", storage::kMaxCmdline, boot.cmdline));
  }
  return std::nullopt;
}

Status read_disk(const Json& v, const std::string& f, storage::DiskAttachment& d) {
  FLT_RETURN_IF_ERROR(expect_object(v, f));
  FLT_RETURN_IF_ERROR(check_keys(v, f, {"path", "read_only", "disk"}));
  auto path = v.find("path");
  if (path == v.end()) return invalid(join_path(f, "path"), "is required");
  FLT_RETURN_IF_ERROR(read_host_path(*path, join_path(f, "path"), false, d.path));
  if (auto it = v.find("read_only"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_bool(*it, join_path(f, "read_only"), d.read_only));
  }
  // A pool disk as GET shows it ("disk": its id); null or absent for a path-only disk.
  if (auto it = v.find("disk"); it != v.end() && !it->is_null()) {
    if (!it->is_string() || !is_uuid(it->get_ref<const std::string&>())) {
      return invalid(join_path(f, "disk"), "must be null or a disk id");
    }
    d.disk_id = it->get<std::string>();
  }
  return std::nullopt;
}

Status apply_disks(const Json& v, std::vector<storage::DiskAttachment>& out) {
  if (!v.is_array()) return invalid("disks", "must be an array");
  if (v.size() > kMaxDisks) {
    return invalid("disks", "must have at most " + std::to_string(kMaxDisks) + " entries");
  }
  std::vector<storage::DiskAttachment> disks(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    FLT_RETURN_IF_ERROR(read_disk(v[i], index_path("disks", i), disks[i]));
  }
  out = std::move(disks);
  return std::nullopt;
}

bool is_unicast_mac(std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    const char c = mac[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
    mac[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const int first = std::stoi(mac.substr(0, 2), nullptr, 16);
  return (first & 1) == 0 && mac != "00:00:00:00:00:00";
}

// A dotted quad (the network manager checks it against the range).
bool is_ipv4(const std::string& s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j - i > 3 || std::stoi(s.substr(i, j - i)) > 255) return false;
    if (j - i > 1 && s[i] == '0') return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

Status read_rate(const Json& v, const std::string& f, uint64_t& bytes, uint64_t& packets) {
  FLT_RETURN_IF_ERROR(expect_object(v, f));
  FLT_RETURN_IF_ERROR(check_keys(v, f, {"bytes_per_sec", "packets_per_sec"}));
  if (auto it = v.find("bytes_per_sec"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_uint(*it, join_path(f, "bytes_per_sec"), 0, kMaxNicRate, bytes));
  }
  if (auto it = v.find("packets_per_sec"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_uint(*it, join_path(f, "packets_per_sec"), 0, kMaxNicRate, packets));
  }
  return std::nullopt;
}

// {"rx":{"bytes_per_sec","packets_per_sec"},"tx":{...}}: fields given replace those in `l`.
Status read_nic_limits(const Json& v, const std::string& f, storage::NicLimits& l) {
  FLT_RETURN_IF_ERROR(expect_object(v, f));
  FLT_RETURN_IF_ERROR(check_keys(v, f, {"rx", "tx"}));
  if (auto it = v.find("rx"); it != v.end()) {
    FLT_RETURN_IF_ERROR(
        read_rate(*it, join_path(f, "rx"), l.rx_bytes_per_sec, l.rx_packets_per_sec));
  }
  if (auto it = v.find("tx"); it != v.end()) {
    FLT_RETURN_IF_ERROR(
        read_rate(*it, join_path(f, "tx"), l.tx_bytes_per_sec, l.tx_packets_per_sec));
  }
  return std::nullopt;
}

Status read_nic(const Json& v, const std::string& f, storage::NicAttachment& n) {
  FLT_RETURN_IF_ERROR(expect_object(v, f));
  FLT_RETURN_IF_ERROR(check_keys(v, f, {"network", "mac", "ip", "limits"}));
  n.network = "default";
  if (auto it = v.find("network"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_string(*it, join_path(f, "network"), 36, n.network));
    if (!is_uuid(n.network) && !is_valid_name(n.network)) {
      return invalid(join_path(f, "network"), "must be a network's id or name");
    }
  }
  if (auto it = v.find("mac"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_string(*it, join_path(f, "mac"), 17, n.mac));
    if (!n.mac.empty() && !is_unicast_mac(n.mac)) {
      return invalid(join_path(f, "mac"), "must be empty or a unicast MAC like 52:54:00:12:34:56");
    }
  }
  if (auto it = v.find("ip"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_string(*it, join_path(f, "ip"), 15, n.ip));
    if (!n.ip.empty() && !is_ipv4(n.ip)) {
      return invalid(join_path(f, "ip"), "must be empty or an IPv4 address like 10.0.0.5");
    }
  }
  if (auto it = v.find("limits"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_nic_limits(*it, join_path(f, "limits"), n.limits));
  }
  return std::nullopt;
}

Status apply_nics(const Json& v, std::vector<storage::NicAttachment>& out) {
  if (!v.is_array()) return invalid("nics", "must be an array");
  if (v.size() > kMaxNics) {
    return invalid("nics", "must have at most " + std::to_string(kMaxNics) + " entries");
  }
  std::vector<storage::NicAttachment> nics(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    FLT_RETURN_IF_ERROR(read_nic(v[i], index_path("nics", i), nics[i]));
  }
  out = std::move(nics);
  return std::nullopt;
}

// Reads a string that must be one of `names`; `index` gets its position.
Status read_enum(const Json& v, const std::string& f, std::initializer_list<const char*> names,
                 size_t& index) {
  std::string s;
  std::string allowed;
  for (const char* n : names) allowed += (allowed.empty() ? "" : ", ") + std::string(n);
  if (!v.is_string()) return invalid(f, "must be one of " + allowed);
  s = v.get<std::string>();
  size_t i = 0;
  for (const char* n : names) {
    if (s == n) {
      index = i;
      return std::nullopt;
    }
    ++i;
  }
  return invalid(f, "must be one of " + allowed);
}

Status apply_cpu(const Json& v, storage::CpuPolicy& cpu) {
  FLT_RETURN_IF_ERROR(expect_object(v, "cpu"));
  FLT_RETURN_IF_ERROR(check_keys(v, "cpu", {"mode", "weight", "cap_percent", "dedicated_cores"}));
  if (auto it = v.find("mode"); it != v.end()) {
    size_t i = 0;
    FLT_RETURN_IF_ERROR(read_enum(*it, "cpu.mode", {"timeshare", "partition"}, i));
    cpu.mode = i == 0 ? storage::CpuMode::timeshare : storage::CpuMode::partition;
  }
  if (auto it = v.find("weight"); it != v.end()) {
    FLT_RETURN_IF_ERROR(read_u32(*it, "cpu.weight", 1, kMaxWeight, cpu.weight));
  }
  if (auto it = v.find("cap_percent"); it != v.end()) {
    // null removes the cap; a cap of 0 % would never let the VM run, so it is refused.
    if (it->is_null()) {
      cpu.cap_percent = 0;
    } else if (it->is_number_integer() && it->get<int64_t>() == 0) {
      return invalid("cpu.cap_percent",
                     "must be from 1 to 100 x vcpus percent of one host core; null (or leaving "
                     "it out) means no cap");
    } else {
      FLT_RETURN_IF_ERROR(read_u32(*it, "cpu.cap_percent", 1, kMaxCapPercent, cpu.cap_percent));
    }
  }
  if (auto it = v.find("dedicated_cores"); it != v.end()) {
    FLT_RETURN_IF_ERROR(
        read_u32(*it, "cpu.dedicated_cores", 0, kMaxDedicatedCores, cpu.dedicated_cores));
  }
  return std::nullopt;
}

Status apply_memory(const Json& v, storage::MemoryPolicy& mem) {
  FLT_RETURN_IF_ERROR(expect_object(v, "memory"));
  FLT_RETURN_IF_ERROR(check_keys(v, "memory", {"mode"}));
  if (auto it = v.find("mode"); it != v.end()) {
    size_t i = 0;
    FLT_RETURN_IF_ERROR(read_enum(*it, "memory.mode", {"shared", "reserved"}, i));
    mem.mode = i == 0 ? storage::MemoryMode::shared : storage::MemoryMode::reserved;
  }
  return std::nullopt;
}

Status apply_field(const std::string& key, const Json& v, VmSpec& spec) {
  if (key == "name") return read_name(v, "name", spec.name);
  if (key == "vcpus") return read_u32(v, "vcpus", 1, kMaxVcpus, spec.vcpus);
  if (key == "memory_mib")
    return read_uint(v, "memory_mib", kMinMemoryMib, kMaxMemoryMib, spec.memory_mib);
  if (key == "boot") return apply_boot(v, spec.boot);
  if (key == "disks") return apply_disks(v, spec.disks);
  if (key == "nics") return apply_nics(v, spec.nics);
  if (key == "cpu") return apply_cpu(v, spec.cpu);
  if (key == "memory") return apply_memory(v, spec.memory);
  if (key == "restart") {
    size_t i = 0;
    FLT_RETURN_IF_ERROR(read_enum(v, "restart", {"never", "on-crash", "always"}, i));
    spec.restart = static_cast<storage::RestartPolicy>(i);
    return std::nullopt;
  }
  return invalid(key, "unknown field");
}

Status apply_fields(const Json& body, VmSpec& spec) {
  if (!body.is_object()) {
    return api_error(ApiErrc::validation_failed, "body must be a JSON object");
  }
  for (const auto& item : body.items()) {
    FLT_RETURN_IF_ERROR(apply_field(item.key(), item.value(), spec));
  }
  return std::nullopt;
}

Status check_spec(const VmSpec& spec) {
  if (spec.cpu.mode == storage::CpuMode::partition && spec.cpu.dedicated_cores == 0) {
    return invalid("cpu.dedicated_cores", "must be at least 1 in partition mode");
  }
  // A cap is percent of one host core for the whole VM: more than 100 per vCPU cannot be used.
  if (spec.cpu.cap_percent > 100 * spec.vcpus) {
    return invalid("cpu.cap_percent", "must be at most 100 x vcpus (" +
                                          std::to_string(100 * spec.vcpus) + " for " +
                                          std::to_string(spec.vcpus) + " vCPUs); got " +
                                          std::to_string(spec.cpu.cap_percent));
  }
  return std::nullopt;
}

ApiResult<VmSpec> finish(Status s, VmSpec spec) {
  if (!s) s = check_spec(spec);
  if (s) return fail(std::move(*s));
  return spec;
}

}  // namespace

ApiResult<VmSpec> parse_vm_create(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  const Json& j = *json;
  VmSpec spec;
  Status s = apply_fields(j, spec);
  if (!s && !j.contains("name")) s = invalid("name", "is required");
  if (!s && spec.boot.kernel.empty()) s = invalid("boot.kernel", "is required");
  return finish(std::move(s), std::move(spec));
}

ApiResult<VmSpec> apply_vm_patch(const VmSpec& current, std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  VmSpec spec = current;
  Status s = apply_fields(*json, spec);  // sequenced before spec is moved
  return finish(std::move(s), std::move(spec));
}

}  // namespace flotilla::api

namespace flotilla::api {

ApiResult<storage::NicAttachment> parse_nic_attach(std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  storage::NicAttachment nic;
  if (auto s = read_nic(*json, "", nic)) return fail(std::move(*s));
  return nic;
}

ApiResult<storage::NicLimits> parse_nic_patch(const storage::NicLimits& current,
                                              std::string_view body) {
  auto json = parse_json_body(body);
  if (!json) return fail(json.error());
  storage::NicLimits limits = current;
  Status s = expect_object(*json, "");
  if (!s) s = check_keys(*json, "", {"limits"});
  if (!s && !json->contains("limits")) s = invalid("limits", "is required");
  if (!s) s = read_nic_limits((*json)["limits"], "limits", limits);
  if (s) return fail(std::move(*s));
  return limits;
}

}  // namespace flotilla::api
