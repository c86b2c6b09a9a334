#include "cli/render.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace flotilla::cli {
namespace {

using nlohmann::json;

const json kVm = json::parse(R"({"id":"7f1c","name":"web-1","host":"h1","vcpus":2,
  "memory_mib":128,"boot":{"kernel":"/k","initrd":"","cmdline":"console=ttyS0"},
  "disks":[{"path":"/d.img","read_only":true}],"nics":[{"network":"default","mac":""}],
  "cpu":{"mode":"timeshare","weight":100,"cap_percent":0,"dedicated_cores":0},
  "memory":{"mode":"shared"},"restart":"never","desired_state":"stopped","state":"stopped",
  "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:01Z","generation":1})");

TEST(Render, VmListIsAnAlignedTable) {
  json list = {{"items", {kVm}}};
  list["items"].push_back({{"name", "database-primary"}, {"id", "x"}, {"vcpus", 16}});
  EXPECT_EQ(render_vm_list(list),
            "NAME              ID    STATE    DESIRED  VCPUS  MEMORY   CREATED\n"
            "web-1             7f1c  stopped  stopped  2      128 MiB  2026-01-01T00:00:00Z\n"
            "database-primary  x     -        -        16     -        -\n");
}

TEST(Render, EmptyOrOddListsStillPrintAHeader) {
  EXPECT_EQ(render_vm_list(json::object()).substr(0, 4), "NAME");
  EXPECT_EQ(render_vm_list(json::parse(R"({"items":7})")).find('\n') + 1,
            render_vm_list(json::object()).size());
}

TEST(Render, VmShowListsEveryField) {
  std::string s = render_vm(kVm);
  for (const char* line :
       {"name:           web-1\n", "memory:         128 MiB\n", "initrd:         -\n",
        "disks:          /d.img (ro)\n", "nics:           default\n",
        "cpu:            timeshare weight=100 cap=none\n", "generation:     1\n"}) {
    EXPECT_NE(s.find(line), std::string::npos) << line << "\nin:\n" << s;
  }
}

TEST(Render, HostShowsKvmCapabilities) {
  json host = json::parse(R"({"hostname":"h","host_id":"id","cores":2,"memory_bytes":2147483648,
    "cgroup_version":2,"kvm":{"available":true,"api_version":12,"flavour":"pvm",
    "capabilities":{"irqchip":true,"nr_vcpus":8,"xsave":false,"pit2":1,"tsc":0},"error":""}})");
  std::string s = render_host(host);
  EXPECT_NE(s.find("memory:            2 GiB\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kvm:               available\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kvm_capabilities:  irqchip, nr_vcpus=8, pit2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kvm_missing:       tsc, xsave\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("kvm_error"), std::string::npos);
}

TEST(Render, Tokens) {
  json list = json::parse(R"({"items":[{"id":"t1","name":"ci","role":"viewer",
    "created_at":"c","expires_at":null}]})");
  EXPECT_EQ(render_token_list(list),
            "ID  NAME  ROLE    CREATED  EXPIRES\n"
            "t1  ci    viewer  c        never\n");
  json created = list["items"][0];
  created["token"] = "flt_secret";
  EXPECT_NE(render_token(created).find("token:       flt_secret\n"), std::string::npos)
      << render_token(created);
}

TEST(FormatBytes, ExactAndFractional) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(128ull << 20), "128 MiB");
  EXPECT_EQ(format_bytes(1ull << 40), "1 TiB");
}

}  // namespace
}  // namespace flotilla::cli
