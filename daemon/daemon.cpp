#include "daemon/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <set>

#include "api/api.h"
#include "api/server.h"
#include "daemon/host_facts.h"
#include "daemon/logging.h"
#include "daemon/operations.h"
#include "daemon/scheduling.h"
#include "daemon/state_files.h"
#include "daemon/supervisor.h"
#include "daemon/supervisor/control_client.h"
#include "daemon/supervisor/monitor_process.h"
#include "daemon/systemd_notify.h"
#include "network/networks.h"
#include "storage/pools/pools.h"
#include "storage/state_store.h"

namespace flotilla::daemon {

namespace net = boost::asio;

namespace {

// Prints a line on stdout and flushes it: tests and scripts read these.
void announce(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// At first start (no tokens at all) makes an admin token, writes it to DIR/admin.token
// (0600, durably, before the record commits) and prints it once.
Result<void, SimpleError> bootstrap_admin_token(storage::StateStore& store,
                                                const std::string& state_dir) {
  auto n = store.count_tokens();
  if (!n) return fail(SimpleError{"count tokens: " + n.error().message});
  if (*n > 0) return {};
  const std::string token = api::generate_token();
  if (auto r = write_file_durably(state_dir + "/admin.token", token + "\n", 0600); !r) return r;
  auto rec = store.create_token("admin", storage::Role::admin, api::token_sha256_hex(token), 0);
  if (!rec) return fail(SimpleError{"create admin token: " + rec.error().message});
  announce("admin token: " + token);
  return {};
}

class Signals {
 public:
  Signals(net::io_context& ioc, const ConfigOverrides& overrides, api::HttpServer& server)
      : ioc_(ioc),
        overrides_(overrides),
        server_(server),
        set_(ioc, SIGTERM, SIGINT, SIGHUP),
        watchdog_(ioc) {}

  void start() {
    wait();
    if (auto interval = watchdog_interval()) ping(*interval);
  }

 private:
  void wait() {
    set_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        return wait();
      }
      spdlog::info("signal {}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      notify_stopping();
      watchdog_.cancel();
      server_.shutdown();
      ioc_.stop();
    });
  }

  void reload() {
    notify_reloading();
    auto config = load_config(overrides_);
    if (!config) {
      spdlog::error("SIGHUP: config not reloaded: {}", config.error().message);
    } else {
      set_log_level(config->log_level);
      if (server_.tls_enabled()) {
        auto r = server_.reload_tls({config->tls_cert, config->tls_key});
        if (!r)
          spdlog::error("SIGHUP: TLS not reloaded: {}", r.error().message);
        else
          spdlog::info("SIGHUP: TLS certificate and key reloaded");
      }
      spdlog::info("SIGHUP: config reloaded (log level {})", config->log_level);
    }
    notify_ready();
  }

  void ping(std::chrono::microseconds interval) {
    notify_watchdog();
    watchdog_.expires_after(interval);
    watchdog_.async_wait([this, interval](const boost::system::error_code& ec) {
      if (!ec) ping(interval);
    });
  }

  net::io_context& ioc_;
  const ConfigOverrides& overrides_;
  api::HttpServer& server_;
  net::signal_set set_;
  net::steady_timer watchdog_;
};

SupervisorOptions supervisor_options(const DaemonConfig& cfg, const std::string& host_id) {
  SupervisorOptions o;
  o.state_dir = cfg.state_dir;
  o.vmm_binary = cfg.resolved_vmm_binary();
  const api::HostInfo host = collect_host_info(host_id);
  o.host_memory_bytes = static_cast<uint64_t>(host.memory_bytes);
  for (const auto& [name, value] : host.kvm.capabilities) {
    if (name == "MAX_VCPUS" && std::holds_alternative<int64_t>(value) &&
        std::get<int64_t>(value) > 0) {
      o.max_vcpus = static_cast<uint32_t>(std::min<int64_t>(std::get<int64_t>(value), 254));
    }
  }
  return o;
}

// After recover(): bridges a host reboot dropped come back, and TAPs of VMs no monitor holds
// (their guest ended while flotillad was down) go.
void restore_networks(storage::StateStore& store, network::NetworkManager& networks) {
  std::set<std::string> running;
  if (auto vms = store.list_vms(); vms) {
    for (const auto& vm : *vms) {
      if (vm.actual != storage::VmState::stopped && vm.actual != storage::VmState::crashed) {
        running.insert(vm.id);
      }
    }
  }
  for (const auto& tap : networks.restore(running)) {
    spdlog::warn("removed {}: a TAP whose guest ended while flotillad was down", tap);
  }
}

SchedulingOptions scheduling_options(const DaemonConfig& cfg, uint32_t max_vcpus) {
  SchedulingOptions o;
  o.cgroup_root = cfg.cgroup_root;
  o.root_weight = cfg.cgroup_root_weight;
  o.overcommit_ratio = cfg.memory_overcommit_ratio;
  o.min_shared_cores = cfg.min_shared_cores;
  o.memory_limit_bytes = cfg.memory_limit_mib << 20;
  o.max_vcpus = max_vcpus;
  o.monitor_stats = [dir = cfg.state_dir](const std::string& vm_id) {
    const auto paths = supervisor::monitor_paths(dir, vm_id);
    auto r = supervisor::control_call(paths.control_socket, {{"cmd", "stats"}}, 500);
    return r && (*r)["stats"].is_object() ? (*r)["stats"] : nlohmann::json();
  };
  return o;
}

int fatal(const std::string& what) {
  spdlog::critical("{}", what);
  return 1;
}

}  // namespace

int run_daemon(const ConfigOverrides& overrides) {
  ::signal(SIGPIPE, SIG_IGN);
  auto config = load_config(overrides);
  setup_logging(config ? config->log_level : "info");
  if (!config) return fatal("config: " + config.error().message);
  const DaemonConfig& cfg = *config;
  if (auto r = make_state_layout(cfg.state_dir); !r) return fatal(r.error().message);
  auto host_id = load_or_create_host_id(cfg.state_dir);
  if (!host_id) return fatal(host_id.error().message);
  auto store = storage::StateStore::open({cfg.state_dir + "/flotilla.db", 5000, *host_id});
  if (!store) return fatal("state store: " + store.error().message);
  if (auto r = bootstrap_admin_token(**store, cfg.state_dir); !r) return fatal(r.error().message);

  // Operations a previous flotillad was running when it died end here: nobody runs them now.
  if (auto ops = (*store)->list_operations(0); ops) {
    for (const auto& op : *ops) {
      if (storage::is_terminal(op.state)) continue;
      (void)(*store)->update_operation(op.id, storage::OperationState::failed, op.progress,
                                       "flotillad stopped while the operation ran");
    }
  }
  storage::pools::PoolManager pools(**store);  // outlives the operations that import
  for (const auto& path : pools.remove_orphans()) {
    spdlog::warn("removed {}: an image file no disk record names (an interrupted import)", path);
  }
  auto networks = network::NetworkManager::create(**store, cfg.state_dir + "/networks");
  if (!networks) return fatal("networks: " + networks.error().message);
  OperationRunner operations(**store);
  const std::string id = *host_id;
  SupervisorOptions sup_options = supervisor_options(cfg, id);
  sup_options.networks = networks->get();
  auto scheduling = Scheduling::create(scheduling_options(cfg, sup_options.max_vcpus));
  sup_options.scheduling = scheduling.get();
  auto supervisor = Supervisor::create(**store, operations, std::move(sup_options));
  if (!supervisor) return fatal(supervisor.error().message);
  (*supervisor)->recover();
  restore_networks(**store, **networks);
  Scheduling* sched = scheduling.get();
  api::ApiDeps deps{store->get(),
                    [id, sched] {
                      api::HostInfo h = collect_host_info(id);
                      h.scheduler = sched->inventory_json();
                      return h;
                    },
                    {},
                    supervisor->get()};
  deps.pools = &pools;
  deps.networks = networks->get();
  deps.submit_operation = [&operations](const std::string& kind, const std::string& target,
                                        api::ApiDeps::OperationWork work) {
    return operations.submit(
        kind, target,
        [work = std::move(work)](const OperationRunner::Progress& p) { return work(p); });
  };
  auto api = api::Api::create(std::move(deps));
  auto server = api::HttpServer::create(cfg.server_options(), *api);
  if (!server) return fatal(server.error().message);

  net::io_context ioc;
  Signals signals(ioc, overrides, **server);
  signals.start();
  (*server)->start();
  const std::string socket_path = cfg.unix_socket_path();
  if (!socket_path.empty()) announce("listening on unix:" + socket_path);
  announce(std::string("listening on ") + ((*server)->tls_enabled() ? "https" : "http") + "://" +
           cfg.listen_address + ":" + std::to_string((*server)->tcp_port()));
  spdlog::info("flotillad {} ready; state folder {}", kVersion, cfg.state_dir);
  notify_ready();
  ioc.run();
  (*server)->shutdown();
  operations.stop();
  (*supervisor)->stop();  // the monitors keep running; the next flotillad re-attaches
  scheduling->stop();     // their cgroups stay: the next flotillad adopts them
  spdlog::info("stopped");
  return 0;
}

}  // namespace flotilla::daemon
