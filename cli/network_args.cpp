// The network and `vm nic` subcommands.
#include "cli/network_args.h"

#include "cli/network_requests.h"
#include "cli/storage_requests.h"

namespace flotilla::cli {

struct NetworkCommands {
  CLI::App *create, *list, *show, *remove;
  CLI::App *attach, *detach, *limits;
  CLI::Option *bridge, *uplink, *mac, *ip;
  CLI::Option *rx_bytes, *rx_packets, *tx_bytes, *tx_packets;
  std::string subject, name, cidr, bridge_value, uplink_value, vm, network, mac_value, ip_value;
  std::string rx_bytes_value, rx_packets_value, tx_bytes_value, tx_packets_value;
  unsigned index = 0;
};

void NetworkCommandsDeleter::operator()(NetworkCommands* n) const {
  delete n;
}

namespace {

void add_network_group(CLI::App& app, NetworkCommands& n) {
  auto* net =
      app.add_subcommand("network", "Networks: bridges with an IPv4 range")->require_subcommand(1);
  n.create = net->add_subcommand("create", "Create a network (admin)");
  n.create->add_option("name", n.name, "Network name")->required();
  n.create->add_option("--cidr", n.cidr, "Range with the host's address, e.g. 10.0.0.1/24")
      ->required();
  n.bridge = n.create->add_option("--bridge", n.bridge_value,
                                  "Adopt this existing bridge (default: create flb-<id>)");
  n.uplink = n.create->add_option("--uplink", n.uplink_value,
                                  "Uplink network: enslave this host interface to the bridge");
  n.list = net->add_subcommand("list", "List networks");
  n.show = net->add_subcommand("show", "Show one network");
  n.show->add_option("network", n.subject, "Network name or id")->required();
  n.remove = net->add_subcommand("delete", "Delete a network no NIC uses (admin)");
  n.remove->add_option("network", n.subject, "Network name or id")->required();
}

void add_nic_group(CLI::App& vm, NetworkCommands& n) {
  auto* nic = vm.add_subcommand("nic", "A VM's network interfaces")->require_subcommand(1);
  n.attach = nic->add_subcommand("attach", "Give a stopped VM a NIC on a network");
  n.attach->add_option("vm", n.vm, "VM name or id")->required();
  n.attach->add_option("--network", n.network, "Network name or id")->required();
  n.mac = n.attach->add_option("--mac", n.mac_value, "MAC (default: allocated, 02:f1:0a:..)");
  n.ip = n.attach->add_option("--ip", n.ip_value, "IPv4 address (default: leased from the range)");
  n.detach = nic->add_subcommand("detach", "Remove NIC INDEX from a stopped VM");
  n.detach->add_option("vm", n.vm, "VM name or id")->required();
  n.detach->add_option("index", n.index, "NIC index (0 = first)")->required();
  n.limits = nic->add_subcommand("limits", "Change a NIC's rate limits (live when running)");
  n.limits->add_option("vm", n.vm, "VM name or id")->required();
  n.limits->add_option("index", n.index, "NIC index (0 = first)")->required();
  const char* unit = " per second (K, M, G allowed; 0 = unlimited)";
  n.rx_bytes = n.limits->add_option("--rx-bytes", n.rx_bytes_value,
                                    std::string("Bytes to the guest") + unit);
  n.rx_packets = n.limits->add_option("--rx-packets", n.rx_packets_value,
                                      std::string("Packets to the guest") + unit);
  n.tx_bytes = n.limits->add_option("--tx-bytes", n.tx_bytes_value,
                                    std::string("Bytes from the guest") + unit);
  n.tx_packets = n.limits->add_option("--tx-packets", n.tx_packets_value,
                                      std::string("Packets from the guest") + unit);
}

std::optional<std::string> given(const CLI::Option* o, const std::string& v) {
  return o->count() > 0 ? std::optional<std::string>(v) : std::nullopt;
}

Result<std::optional<std::uint64_t>, UsageError> rate(const CLI::Option* o, const std::string& v) {
  if (o->count() == 0) return std::optional<std::uint64_t>();
  auto n = parse_size(v);
  if (!n) return fail(n.error());
  return std::optional<std::uint64_t>(*n);
}

Result<NicLimitArgs, UsageError> limit_args(const NetworkCommands& n) {
  NicLimitArgs a;
  const std::pair<const CLI::Option*, std::optional<std::uint64_t>*> fields[] = {
      {n.rx_bytes, &a.rx_bytes},
      {n.rx_packets, &a.rx_packets},
      {n.tx_bytes, &a.tx_bytes},
      {n.tx_packets, &a.tx_packets}};
  const std::string* values[] = {&n.rx_bytes_value, &n.rx_packets_value, &n.tx_bytes_value,
                                 &n.tx_packets_value};
  bool any = false;
  for (size_t i = 0; i < std::size(fields); ++i) {
    auto r = rate(fields[i].first, *values[i]);
    if (!r) return fail(r.error());
    *fields[i].second = *r;
    any = any || r->has_value();
  }
  if (!any) return fail(UsageError{"give at least one of --rx-bytes, --rx-packets, ..."});
  return a;
}

}  // namespace

NetworkCommandsPtr add_network_commands(CLI::App& app, CLI::App& vm) {
  NetworkCommandsPtr p(new NetworkCommands{});
  add_network_group(app, *p);
  add_nic_group(vm, *p);
  return p;
}

Result<bool, UsageError> build_network(const NetworkCommands& n, Invocation& inv) {
  inv.subject = !n.subject.empty() ? n.subject : !n.vm.empty() ? n.vm : n.name;
  if (n.create->parsed()) {
    NetworkCreateArgs a{n.name, n.cidr, given(n.bridge, n.bridge_value),
                        given(n.uplink, n.uplink_value)};
    inv.command = Command::kNetworkCreate, inv.request = network_create_request(a);
  } else if (n.list->parsed()) {
    inv.command = Command::kNetworkList, inv.request = network_list_request();
  } else if (n.show->parsed()) {
    inv.command = Command::kNetworkShow, inv.request = network_show_request(n.subject);
  } else if (n.remove->parsed()) {
    inv.command = Command::kNetworkDelete, inv.request = network_delete_request(n.subject);
  } else if (n.attach->parsed()) {
    NicAttachArgs a{n.vm, n.network, given(n.mac, n.mac_value), given(n.ip, n.ip_value)};
    inv.command = Command::kVmNic, inv.request = vm_nic_attach_request(a);
  } else if (n.detach->parsed()) {
    inv.command = Command::kVmNic, inv.request = vm_nic_detach_request(n.vm, n.index);
  } else if (n.limits->parsed()) {
    auto a = limit_args(n);
    if (!a) return fail(a.error());
    inv.command = Command::kVmNic, inv.request = vm_nic_limits_request(n.vm, n.index, *a);
  } else {
    return false;
  }
  return true;
}

}  // namespace flotilla::cli
