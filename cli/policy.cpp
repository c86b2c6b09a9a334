// CPU and memory policy flags → VM JSON (cli/policy.h).
#include "cli/policy.h"

#include <charconv>

namespace flotilla::cli {

using nlohmann::json;

Result<void, UsageError> apply_policy(const PolicyArgs& a, json& body) {
  auto cpu = [&body]() -> json& {
    if (!body.contains("cpu") || !body["cpu"].is_object()) body["cpu"] = json::object();
    return body["cpu"];
  };
  if (a.cpu_mode) cpu()["mode"] = *a.cpu_mode;
  if (a.weight) cpu()["weight"] = *a.weight;
  if (a.dedicated_cores) cpu()["dedicated_cores"] = *a.dedicated_cores;
  if (a.cap) {
    if (*a.cap == "none") {
      cpu()["cap_percent"] = nullptr;
    } else {
      std::int64_t n = 0;
      const char* end = a.cap->data() + a.cap->size();
      auto [p, ec] = std::from_chars(a.cap->data(), end, n);
      if (ec != std::errc() || p != end) {
        return fail(UsageError{"--cap: a percent of one host core (e.g. 50) or none, not '" +
                               *a.cap + "'"});
      }
      cpu()["cap_percent"] = n;
    }
  }
  if (a.memory_mode) body["memory"] = {{"mode", *a.memory_mode}};
  return {};
}

Result<HttpRequest, UsageError> vm_policy_request(std::string_view vm, const PolicyArgs& args) {
  if (args.empty()) {
    return fail(
        UsageError{"vm policy needs at least one of --cpu-mode --weight --cap --dedicated-cores "
                   "--memory-mode"});
  }
  json body = json::object();
  if (auto r = apply_policy(args, body); !r) return fail(r.error());
  return make_request("PATCH", "/v1/vms/" + encode_path_segment(vm), body.dump());
}

void PolicyFlags::add_to(CLI::App& c) {
  mode_opt_ = c.add_option("--cpu-mode", cpu_mode_,
                           "timeshare (share cores by weight) or partition (dedicated cores)")
                  ->check(CLI::IsMember({"timeshare", "partition"}));
  weight_opt_ = c.add_option("--weight", weight_, "timeshare: relative share, 1..10000 (100)");
  cap_opt_ =
      c.add_option("--cap", cap_, "timeshare: percent of one host core for the whole VM, or none");
  cores_opt_ = c.add_option("--dedicated-cores", dedicated_cores_, "partition: host cores");
  memory_opt_ = c.add_option("--memory-mode", memory_mode_,
                             "shared (overcommitted) or reserved (prefaulted and locked)")
                    ->check(CLI::IsMember({"shared", "reserved"}));
}

PolicyArgs PolicyFlags::args() const {
  PolicyArgs a;
  if (mode_opt_->count() > 0) a.cpu_mode = cpu_mode_;
  if (weight_opt_->count() > 0) a.weight = weight_;
  if (cap_opt_->count() > 0) a.cap = cap_;
  if (cores_opt_->count() > 0) a.dedicated_cores = dedicated_cores_;
  if (memory_opt_->count() > 0) a.memory_mode = memory_mode_;
  return a;
}

std::unique_ptr<PolicyCommands> add_policy_commands(CLI::App& vm) {
  auto p = std::make_unique<PolicyCommands>();
  p->vm_policy = vm.add_subcommand(
      "policy", "Change a VM's CPU or memory policy (a running VM takes a CPU change at once)");
  p->vm_policy->add_option("vm", p->vm, "VM name or id")->required();
  p->flags.add_to(*p->vm_policy);
  return p;
}

Result<bool, UsageError> build_policy(const PolicyCommands& p, Invocation& inv) {
  if (!p.vm_policy->parsed()) return false;
  auto r = vm_policy_request(p.vm, p.flags.args());
  if (!r) return fail(r.error());
  inv.subject = p.vm;
  inv.command = Command::kVmPolicy;
  inv.request = std::move(*r);
  return true;
}

}  // namespace flotilla::cli
