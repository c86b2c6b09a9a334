// parse_args: the CLI11 command tree.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/app.h"
#include "cli/network_args.h"
#include "cli/policy.h"
#include "cli/requests.h"
#include "cli/storage_args.h"

#ifndef FLOTILLA_VERSION
#define FLOTILLA_VERSION "unknown"
#endif

namespace flotilla::cli {
namespace {

struct Values {
  ConnectionArgs connection;
  double timeout_seconds = 30;
  bool json = false;
  std::string subject;
  VmCreateArgs vm;
  std::string vm_name, kernel, initrd, cmdline, restart, from_json;
  std::int64_t vcpus = 0, memory_mib = 0;
  TokenCreateArgs token;
  std::int64_t expires_in = 0;
  bool no_wait = false;
  std::int64_t stop_timeout = 0;
  bool read_only = false;
  std::int64_t tail_bytes = 0;
};

constexpr const char* kActions[] = {"start", "stop", "force-stop", "pause", "resume", "reboot"};
constexpr const char* kActionHelp[] = {
    "Start a VM",         "Stop a VM gracefully (force after --timeout-seconds)",
    "Stop a VM at once",  "Pause a running VM",
    "Resume a paused VM", "Reboot a VM"};

void add_global_options(CLI::App& app, Values& v) {
  app.add_option("--state-dir", v.connection.state_dir,
                 "Daemon state folder: socket <dir>/run/flotillad.sock, token <dir>/admin.token")
      ->envname("FLOTILLA_STATE_DIR");
  app.add_option("--url", v.connection.url,
                 "API URL instead of the Unix socket: http://HOST:PORT, https://..., unix:PATH")
      ->envname("FLOTILLA_URL");
  app.add_option("--token", v.connection.token, "Bearer token")->envname("FLOTILLA_TOKEN");
  app.add_option("--ca", v.connection.ca_file, "PEM CA bundle to trust for https://")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", v.connection.insecure, "Do not verify the server certificate");
  app.add_option("--timeout", v.timeout_seconds, "Seconds to wait for each step")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_flag("--json", v.json, "Print the API's JSON instead of a table");
}

struct Subcommands {
  CLI::App *vm_list, *vm_show, *vm_create, *vm_delete, *host, *token_create, *token_list,
      *token_revoke;
  CLI::Option *vcpus, *memory, *kernel, *initrd, *cmdline, *restart, *from_json, *vm_name, *expires;
  CLI::App* actions[std::size(kActions)];
  CLI::Option* stop_timeout;
  CLI::App *vm_stats, *console;
  CLI::Option* tail;
  PolicyFlags create_policy;
};

Subcommands add_commands(CLI::App& app, Values& v) {
  Subcommands s{};
  auto* vm = app.add_subcommand("vm", "Virtual machines")->require_subcommand(1);
  s.vm_list = vm->add_subcommand("list", "List VMs");
  s.vm_show = vm->add_subcommand("show", "Show one VM");
  s.vm_show->add_option("vm", v.subject, "VM name or id")->required();
  s.vm_create = vm->add_subcommand("create", "Define a VM");
  auto* c = s.vm_create;
  s.vm_name = c->add_option("name", v.vm_name, "VM name: [a-z0-9][a-z0-9-]{0,62}");
  s.kernel = c->add_option("--kernel", v.kernel, "Kernel image path (on the daemon's host)");
  s.vcpus = c->add_option("--vcpus", v.vcpus, "Virtual CPUs (1..64)");
  s.memory = c->add_option("--memory-mib", v.memory_mib, "Memory in MiB (16..1048576)");
  s.cmdline = c->add_option("--cmdline", v.cmdline, "Kernel command line");
  s.initrd = c->add_option("--initrd", v.initrd, "Initrd path");
  s.restart = c->add_option("--restart", v.restart, "Restart policy: never|on-crash|always");
  s.from_json = c->add_option("--from-json", v.from_json, "Create body from FILE, or - for stdin");
  s.create_policy.add_to(*c);
  s.vm_delete = vm->add_subcommand("delete", "Delete a stopped VM");
  s.vm_delete->add_option("vm", v.subject, "VM name or id")->required();
  for (size_t i = 0; i < std::size(kActions); ++i) {
    auto* a = vm->add_subcommand(kActions[i], kActionHelp[i]);
    a->add_option("vm", v.subject, "VM name or id")->required();
    a->add_flag("--no-wait", v.no_wait, "Return once the API accepted the request");
    if (std::string_view(kActions[i]) == "stop") {
      s.stop_timeout = a->add_option("--timeout-seconds", v.stop_timeout,
                                     "Seconds the guest gets to power off before a force stop")
                           ->check(CLI::Range(std::int64_t{0}, std::int64_t{86400}));
    }
    s.actions[i] = a;
  }
  s.vm_stats = vm->add_subcommand("stats", "Show a running VM's monitor counters");
  s.vm_stats->add_option("vm", v.subject, "VM name or id")->required();
  s.console = app.add_subcommand("console", "Attach to a VM's serial console (Ctrl-] detaches)");
  s.console->add_option("vm", v.subject, "VM name or id")->required();
  s.console->add_flag("--read-only", v.read_only, "Watch only: never send input");
  s.tail = s.console
               ->add_option("--tail", v.tail_bytes,
                            "Print the last BYTES (default 16384, at most 65536) and exit")
               ->expected(0, 1)
               ->default_str("16384")
               ->check(CLI::Range(std::int64_t{1}, std::int64_t{65536}));
  s.host = app.add_subcommand("host", "Show the host: cores, memory, KVM");
  auto* token = app.add_subcommand("token", "API tokens (admin)")->require_subcommand(1);
  s.token_create = token->add_subcommand("create", "Create a token; the secret is shown once");
  s.token_create->add_option("name", v.token.name, "Token name")->required();
  s.token_create->add_option("--role", v.token.role, "viewer|helpdesk|operator|admin")->required();
  s.expires = s.token_create->add_option("--expires-in", v.expires_in, "Lifetime in seconds");
  s.token_list = token->add_subcommand("list", "List tokens");
  s.token_revoke = token->add_subcommand("revoke", "Revoke a token");
  s.token_revoke->add_option("id", v.subject, "Token id")->required();
  return s;
}

template <class T>
std::optional<T> given(const CLI::Option* option, const T& value) {
  return option->count() > 0 ? std::optional<T>(value) : std::nullopt;
}

Result<std::string, UsageError> read_input(const std::string& source, std::istream& in) {
  std::ostringstream text;
  if (source == "-") {
    text << in.rdbuf();
  } else {
    std::ifstream file(source, std::ios::binary);
    if (!file) return fail(UsageError{"--from-json: cannot read " + source});
    text << file.rdbuf();
  }
  return text.str();
}

Result<HttpRequest, UsageError> create_request(const Subcommands& s, const Values& v,
                                               std::istream& in) {
  VmCreateArgs a;
  a.name = given(s.vm_name, v.vm_name);
  a.kernel = given(s.kernel, v.kernel);
  a.initrd = given(s.initrd, v.initrd);
  a.cmdline = given(s.cmdline, v.cmdline);
  a.restart = given(s.restart, v.restart);
  a.vcpus = given(s.vcpus, v.vcpus);
  a.memory_mib = given(s.memory, v.memory_mib);
  a.policy = s.create_policy.args();
  if (s.from_json->count() > 0) {
    auto text = read_input(v.from_json, in);
    if (!text) return fail(text.error());
    a.from_json = std::move(*text);
  }
  return vm_create_request(a);
}

// Maps the parsed subcommand to its request.
Result<Invocation, UsageError> build(const Subcommands& s, const StorageCommands& storage,
                                     const NetworkCommands& networks,
                                     const PolicyCommands& policies, Values& v, std::istream& in) {
  Invocation inv;
  inv.json = v.json;
  inv.subject = v.subject;
  inv.connection = v.connection;
  inv.connection.timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(v.timeout_seconds * 1000));
  auto stored = build_storage(storage, inv);
  if (!stored) return fail(stored.error());
  if (*stored) return inv;
  auto networked = build_network(networks, inv);
  if (!networked) return fail(networked.error());
  if (*networked) return inv;
  auto policy = build_policy(policies, inv);
  if (!policy) return fail(policy.error());
  if (*policy) return inv;
  inv.subject = v.subject;
  if (s.vm_list->parsed()) {
    inv.command = Command::kVmList, inv.request = vm_list_request();
  } else if (s.vm_show->parsed()) {
    inv.command = Command::kVmShow, inv.request = vm_show_request(v.subject);
  } else if (s.vm_create->parsed()) {
    auto r = create_request(s, v, in);
    if (!r) return fail(r.error());
    inv.command = Command::kVmCreate, inv.request = std::move(*r);
  } else if (s.vm_delete->parsed()) {
    inv.command = Command::kVmDelete, inv.request = vm_delete_request(v.subject);
  } else if (s.host->parsed()) {
    inv.command = Command::kHost, inv.request = host_request();
  } else if (s.token_create->parsed()) {
    v.token.expires_in_seconds = given(s.expires, v.expires_in);
    inv.command = Command::kTokenCreate, inv.request = token_create_request(v.token);
  } else if (s.token_list->parsed()) {
    inv.command = Command::kTokenList, inv.request = token_list_request();
  } else if (s.token_revoke->parsed()) {
    inv.command = Command::kTokenRevoke, inv.request = token_revoke_request(v.subject);
  } else if (s.vm_stats->parsed()) {
    inv.command = Command::kVmStats, inv.request = vm_stats_request(v.subject);
  } else if (s.console->parsed()) {
    inv.read_only = v.read_only;
    if (s.tail->count() > 0) {
      inv.command = Command::kConsoleTail;
      inv.request = console_tail_request(v.subject, v.tail_bytes);
    } else {
      inv.command = Command::kConsole;
      inv.request = console_ws_request(v.subject, v.read_only);
    }
  } else {
    for (size_t i = 0; i < std::size(kActions); ++i) {
      if (!s.actions[i]->parsed()) continue;
      inv.command = Command::kVmAction;
      inv.action = kActions[i];
      inv.wait = !v.no_wait;
      inv.wait_timeout = inv.connection.timeout;
      std::optional<std::int64_t> stop_timeout = given(s.stop_timeout, v.stop_timeout);
      if (inv.action == "stop") {  // the guest's grace period (the API's default: 30 s)
        inv.wait_timeout = std::max<std::chrono::milliseconds>(
            inv.wait_timeout, std::chrono::seconds(stop_timeout.value_or(30)) + kStopWaitSlack);
      }
      inv.request = vm_action_request(v.subject, inv.action,
                                      inv.action == "stop" ? stop_timeout : std::nullopt);
      return inv;
    }
    return fail(UsageError{"no command given; see --help"});
  }
  return inv;
}

}  // namespace

Result<Invocation, int> parse_args(int argc, const char* const* argv, std::istream& in,
                                   std::ostream& out, std::ostream& err) {
  CLI::App app("Flotilla command-line client: talks to flotillad's REST API", "flotilla");
  app.set_version_flag("--version", std::string("flotilla ") + FLOTILLA_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the subcommand too
  Values values;
  add_global_options(app, values);
  Subcommands subcommands = add_commands(app, values);
  StorageCommandsPtr storage = add_storage_commands(app, *app.get_subcommand("vm"));
  NetworkCommandsPtr networks = add_network_commands(app, *app.get_subcommand("vm"));
  auto policies = add_policy_commands(*app.get_subcommand("vm"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return fail(code == 0 ? kExitOk : kExitUsage);
  }
  auto inv = build(subcommands, *storage, *networks, *policies, values, in);
  if (!inv) {
    err << "error: usage: " << inv.error().message << "\n";
    return fail(kExitUsage);
  }
  return std::move(*inv);
}

}  // namespace flotilla::cli
