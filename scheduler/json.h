// JSON and Prometheus renderings for the daemon: the inventory under /v1/host "scheduler", a
// VM's accounting under GET /v1/vms/{id}/stats (or the VM object), and /metrics lines.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "scheduler/accounting.h"
#include "scheduler/admission.h"
#include "scheduler/cgroup.h"

namespace flotilla::scheduler {

nlohmann::json to_json(const Inventory& inv, CgroupVersion version);
nlohmann::json to_json(const VmAccounting& a);
// Appends the flotilla_vm_* series of one VM (labels vm="<id>", name="<name>"). Write the
// # HELP/# TYPE header once per scrape with metrics_header().
std::string metrics_header();
void append_metrics(std::string& out, std::string_view vm_id, std::string_view name,
                    const VmAccounting& a);

}  // namespace flotilla::scheduler
