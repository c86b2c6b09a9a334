#include <CLI/CLI.hpp>

#include "daemon/daemon.h"

namespace flotilla::daemon {

namespace {

template <class T>
void add_opt(CLI::App& app, const std::string& flag, std::optional<T>& out,
             const std::string& help) {
  app.add_option_function<T>(
      flag, [&out](const T& v) { out = v; }, help);
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, ConfigOverrides& out) {
  CLI::App app{"flotillad: the Flotilla host daemon (REST API, state store, VM supervisor)"};
  app.set_version_flag("--version", std::string("flotillad ") + kVersion);
  add_opt(app, "--config", out.config_file, "JSON config file (see daemon/README.md)");
  add_opt(app, "--state-dir", out.state_dir, "folder for every file the daemon writes");
  add_opt(app, "--listen", out.listen, "TCP listener ADDR:PORT (port 0: any free port)");
  add_opt(app, "--unix-socket", out.unix_socket,
          "Unix socket path (default <state-dir>/run/flotillad.sock, 'none' to disable)");
  add_opt(app, "--tls-cert", out.tls_cert, "PEM certificate chain (TLS on the TCP listener)");
  add_opt(app, "--tls-key", out.tls_key, "PEM private key");
  add_opt(app, "--log-level", out.log_level, "trace|debug|info|warn|error|critical|off");
  add_opt(app, "--vmm-binary", out.vmm_binary,
          "flotilla-vmm to run guests with (default: beside flotillad, or build/vmm/)");
  add_opt(app, "--cgroup-root", out.cgroup_root,
          "cgroup folder the VMs' groups go under (default flotilla; scheduler.cgroup_root)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return std::nullopt;
}

}  // namespace flotilla::daemon
