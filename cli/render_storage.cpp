// Pools, disks and networks as tables and key/value blocks.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/render.h"
#include "cli/table.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

std::string str(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return "-";
  const json& v = o[key];
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string bytes(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_number_integer() ||
      o[key].get<std::int64_t>() < 0) {
    return str(o, key);
  }
  return format_bytes(o[key].get<std::uint64_t>());
}

std::string percent(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key) || !o[key].is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", o[key].get<double>() * 100.0);
  return buf;
}

std::string extents(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  for (const auto& e : list) {
    if (!out.empty()) out += ", ";
    out += bytes(e, "host_offset") + "+" + bytes(e, "length");
  }
  return out;
}

const json& items(const json& list) {
  static const json empty = json::array();
  return list.is_object() && list.contains("items") && list["items"].is_array() ? list["items"]
                                                                                : empty;
}

}  // namespace

std::string render_pool_list(const json& list) {
  Table t({"NAME", "TYPE", "CAPACITY", "FREE", "LARGEST FREE", "FRAG", "DISKS", "PATH"});
  for (const auto& p : items(list)) {
    t.add_row({str(p, "name"), str(p, "type"), bytes(p, "capacity_bytes"), bytes(p, "free_bytes"),
               bytes(p, "largest_free_bytes"), percent(p, "fragmentation"), str(p, "disk_count"),
               str(p, "path")});
  }
  return t.render();
}

std::string render_pool(const json& p) {
  return render_key_values({{"id", str(p, "id")},
                            {"name", str(p, "name")},
                            {"type", str(p, "type")},
                            {"path", str(p, "path")},
                            {"capacity", bytes(p, "capacity_bytes")},
                            {"allocated", bytes(p, "allocated_bytes")},
                            {"free", bytes(p, "free_bytes")},
                            {"largest_free", bytes(p, "largest_free_bytes")},
                            {"fragmentation", percent(p, "fragmentation")},
                            {"disks", str(p, "disk_count")},
                            {"created_at", str(p, "created_at")}});
}

std::string render_disk_list(const json& list) {
  Table t({"NAME", "POOL", "FORMAT", "SIZE", "ALLOCATED", "ATTACHED TO", "ID"});
  for (const auto& d : items(list)) {
    t.add_row({str(d, "name"), str(d, "pool_name"), str(d, "format"), bytes(d, "size_bytes"),
               bytes(d, "allocated_bytes"), str(d, "attached_to"), str(d, "id")});
  }
  return t.render();
}

std::string render_disk(const json& d) {
  return render_key_values(
      {{"id", str(d, "id")},
       {"name", str(d, "name")},
       {"pool", str(d, "pool_name")},
       {"format", str(d, "format")},
       {"size", bytes(d, "size_bytes")},
       {"allocated", bytes(d, "allocated_bytes")},
       {"path", str(d, "path")},
       {"backing", str(d, "backing")},
       {"attached_to", str(d, "attached_to")},
       {"extents", extents(d.is_object() ? d.value("extents", json()) : json())},
       {"created_at", str(d, "created_at")},
       {"updated_at", str(d, "updated_at")}});
}

std::string render_network_list(const json& list) {
  Table t({"NAME", "CIDR", "HOST ADDRESS", "BRIDGE", "MODE", "NICS", "ID"});
  for (const auto& n : items(list)) {
    t.add_row({str(n, "name"), str(n, "cidr"), str(n, "host_address"), str(n, "bridge"),
               str(n, "mode"), str(n, "nic_count"), str(n, "id")});
  }
  return t.render();
}

std::string render_network(const json& n) {
  return render_key_values({{"id", str(n, "id")},
                            {"name", str(n, "name")},
                            {"cidr", str(n, "cidr")},
                            {"host_address", str(n, "host_address")},
                            {"bridge", str(n, "bridge")},
                            {"bridge_adopted", str(n, "bridge_adopted")},
                            {"mode", str(n, "mode")},
                            {"uplink_interface", str(n, "uplink_interface")},
                            {"nics", str(n, "nic_count")},
                            {"created_at", str(n, "created_at")}});
}

}  // namespace flotilla::cli
