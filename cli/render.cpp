#include "cli/render.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/table.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;
using Pairs = std::vector<std::pair<std::string, std::string>>;

const json& field(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string text(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string text(const json& object, const char* key) {
  return text(field(object, key));
}

std::string mib(const json& value) {
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0) return text(value);
  return format_bytes(value.get<std::uint64_t>() << 20);
}

const json& items(const json& list) {
  static const json empty_array = json::array();
  const json& v = field(list, "items");
  return v.is_array() ? v : empty_array;
}

std::string disks(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  for (const auto& d : list) {
    if (!out.empty()) out += ", ";
    out += text(d, "path");
    if (field(d, "read_only").is_boolean() && field(d, "read_only").get<bool>()) out += " (ro)";
  }
  return out;
}

std::string nics(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  for (const auto& n : list) {
    if (!out.empty()) out += ", ";
    out += text(n, "network");
    const json& mac = field(n, "mac");
    if (mac.is_string() && !mac.get_ref<const std::string&>().empty()) out += " " + text(mac);
    const json& ip = field(n, "ip");
    if (ip.is_string() && !ip.get_ref<const std::string&>().empty()) out += " " + text(ip);
  }
  return out;
}

std::string cpu(const json& c) {
  if (!c.is_object()) return text(c);
  std::string out = text(c, "mode");
  const json& cap = field(c, "cap_percent");
  out += " weight=" + text(c, "weight") +
         (cap.is_number() && cap.get<double>() != 0 ? " cap=" + text(cap) + "%" : " cap=none");
  const json& cores = field(c, "dedicated_cores");
  if (cores.is_number() && cores.get<double>() != 0) out += " dedicated_cores=" + text(cores);
  return out;
}

std::string capabilities(const json& caps, bool wanted) {
  if (!caps.is_object()) return "-";
  std::string out;
  for (const auto& [name, value] : caps.items()) {
    bool present = value.is_boolean() ? value.get<bool>() : !value.is_null() && value != 0;
    if (present != wanted) continue;
    if (!out.empty()) out += ", ";
    out += name;
    if (wanted && value.is_number() && value != 1) out += "=" + text(value);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  std::size_t unit = 0;
  double value = static_cast<double>(bytes);
  std::uint64_t whole = bytes;
  bool exact = true;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    exact = exact && whole % 1024 == 0;
    whole /= 1024;
    value /= 1024;
    ++unit;
  }
  char buf[64];
  if (exact) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(whole), kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

std::string render_vm_list(const json& list) {
  Table table({"NAME", "ID", "STATE", "DESIRED", "VCPUS", "MEMORY", "CREATED"});
  for (const auto& vm : items(list)) {
    table.add_row({text(vm, "name"), text(vm, "id"), text(vm, "state"), text(vm, "desired_state"),
                   text(vm, "vcpus"), mib(field(vm, "memory_mib")), text(vm, "created_at")});
  }
  return table.render();
}

std::string render_vm(const json& vm) {
  const json& boot = field(vm, "boot");
  return render_key_values(Pairs{
      {"name", text(vm, "name")},
      {"id", text(vm, "id")},
      {"host", text(vm, "host")},
      {"state", text(vm, "state")},
      {"desired_state", text(vm, "desired_state")},
      {"vcpus", text(vm, "vcpus")},
      {"memory", mib(field(vm, "memory_mib"))},
      {"memory_mode", text(field(vm, "memory"), "mode")},
      {"cpu", cpu(field(vm, "cpu"))},
      {"kernel", text(boot, "kernel")},
      {"initrd", text(boot, "initrd")},
      {"cmdline", text(boot, "cmdline")},
      {"disks", disks(field(vm, "disks"))},
      {"nics", nics(field(vm, "nics"))},
      {"restart", text(vm, "restart")},
      {"generation", text(vm, "generation")},
      {"created_at", text(vm, "created_at")},
      {"updated_at", text(vm, "updated_at")},
  });
}

namespace {

const json& array_of(const json& v) {
  static const json empty_array = json::array();
  return v.is_array() ? v : empty_array;
}

// [0, 1] → "0, 1".
std::string core_list(const json& cores) {
  std::string out;
  for (const auto& c : array_of(cores)) out += (out.empty() ? "" : ", ") + text(c);
  return out.empty() ? "none" : out;
}

std::string bytes_of(const json& j, const char* key) {
  const json& v = field(j, key);
  return v.is_number_unsigned() ? format_bytes(v.get<std::uint64_t>()) : text(v);
}

// The scheduler's inventory under /v1/host: who holds which core and how much memory.
void add_scheduler_pairs(const json& sched, Pairs& pairs) {
  if (!sched.is_object()) return;
  std::map<std::string, std::string> names;
  for (const auto& vm : array_of(field(sched, "vms"))) names[text(vm, "id")] = text(vm, "name");
  std::string dedicated;
  for (const auto& c : array_of(field(sched, "cores"))) {
    if (text(c, "use") != "dedicated") continue;
    const std::string id = text(c, "vm");
    dedicated += (dedicated.empty() ? "" : ", ") + text(c, "core") + " → " +
                 (names.count(id) ? names[id] : id);
  }
  const json& mem = field(sched, "memory");
  pairs.emplace_back("scheduler", "cgroup " + text(sched, "cgroup_version") + " under " +
                                      text(sched, "cgroup_root") +
                                      (text(sched, "enforced") == "yes" ? "" : " (not enforced)"));
  pairs.emplace_back("shared_cores", core_list(field(sched, "shared_cores")));
  pairs.emplace_back("dedicated_cores", dedicated.empty() ? "none" : dedicated);
  pairs.emplace_back("memory_reserved", bytes_of(mem, "reserved_bytes") + " (" +
                                            bytes_of(mem, "reserved_available_bytes") + " free)");
  pairs.emplace_back("memory_shared", bytes_of(mem, "shared_bytes") + " of " +
                                          bytes_of(mem, "shared_capacity_bytes") + " (overcommit " +
                                          text(mem, "overcommit_ratio") + ")");
  pairs.emplace_back("vms_holding", std::to_string(array_of(field(sched, "vms")).size()));
}

}  // namespace

std::string render_host(const json& host) {
  const json& kvm = field(host, "kvm");
  const json& mem = field(host, "memory_bytes");
  Pairs pairs{
      {"hostname", text(host, "hostname")},
      {"host_id", text(host, "host_id")},
      {"cores", text(host, "cores")},
      {"memory", mem.is_number_unsigned() ? format_bytes(mem.get<std::uint64_t>()) : text(mem)},
      {"cgroup_version", text(host, "cgroup_version")},
      {"kvm", text(kvm, "available") == "yes" ? "available" : "unavailable"},
      {"kvm_flavour", text(kvm, "flavour")},
      {"kvm_api_version", text(kvm, "api_version")},
      {"kvm_capabilities", capabilities(field(kvm, "capabilities"), true)},
      {"kvm_missing", capabilities(field(kvm, "capabilities"), false)},
  };
  if (text(kvm, "error") != "-") pairs.emplace_back("kvm_error", text(kvm, "error"));
  add_scheduler_pairs(field(host, "scheduler"), pairs);
  return render_key_values(pairs);
}

std::string render_token_list(const json& list) {
  Table table({"ID", "NAME", "ROLE", "CREATED", "EXPIRES"});
  for (const auto& t : items(list)) {
    const json& expires = field(t, "expires_at");
    table.add_row({text(t, "id"), text(t, "name"), text(t, "role"), text(t, "created_at"),
                   expires.is_null() ? "never" : text(expires)});
  }
  return table.render();
}

std::string render_token(const json& token) {
  const json& expires = field(token, "expires_at");
  Pairs pairs{{"id", text(token, "id")},
              {"name", text(token, "name")},
              {"role", text(token, "role")},
              {"created_at", text(token, "created_at")},
              {"expires_at", expires.is_null() ? "never" : text(expires)}};
  if (!field(token, "token").is_null()) pairs.emplace_back("token", text(token, "token"));
  return render_key_values(pairs);
}

std::string render_operation(const json& op) {
  return render_key_values(Pairs{
      {"id", text(op, "id")},
      {"kind", text(op, "kind")},
      {"target", text(op, "target")},
      {"state", text(op, "state")},
      {"progress", text(op, "progress")},
      {"error", text(op, "error")},
      {"created_at", text(op, "created_at")},
      {"updated_at", text(op, "updated_at")},
  });
}

namespace {

void flatten(const json& value, const std::string& path, Pairs& out) {
  if (value.is_object() && !value.empty()) {
    for (const auto& [key, item] : value.items()) {
      flatten(item, path.empty() ? key : path + "." + key, out);
    }
  } else if (value.is_array() && !value.empty()) {
    for (size_t i = 0; i < value.size(); ++i) {
      flatten(value[i], path + "[" + std::to_string(i) + "]", out);
    }
  } else {
    out.emplace_back(path.empty() ? "value" : path, text(value));
  }
}

}  // namespace

std::string render_flat(const json& value) {
  Pairs pairs;
  flatten(value, "", pairs);
  return render_key_values(pairs);
}

}  // namespace flotilla::cli
