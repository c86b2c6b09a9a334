// DhcpServers: a DHCP-only dnsmasq per network, with static leases from the state store.
#include "network/dhcp.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/spawn.h"
#include "network/addresses.h"

namespace flotilla::network {
namespace {

namespace fs = std::filesystem;

NetworkError dhcp_error(const std::string& message) {
  return NetworkError{NetworkErrc::system, message, {}};
}

std::string dnsmasq_binary() {
  for (const char* p : {"/usr/sbin/dnsmasq", "/sbin/dnsmasq", "/usr/bin/dnsmasq"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// The pid in the file, if that process is alive and is a dnsmasq.
pid_t running_pid(const std::string& pid_file) {
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "dnsmasq" ? static_cast<pid_t>(pid) : 0;
}

// Written to a temporary name and renamed: dnsmasq never reads half a file.
bool write_hosts(const std::string& path, const std::vector<DhcpHost>& hosts) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& h : hosts) out << h.mac << ',' << h.ip << '\n';
    if (!out.flush()) return false;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

std::vector<std::string> dnsmasq_args(const std::string& binary, const storage::NetworkRecord& n,
                                      const Ipv4Cidr& range, const std::string& dir) {
  const std::string net = ipv4_to_string(range.network());
  const std::string mask = ipv4_to_string(range.mask());
  return {binary,
          "--conf-file=/dev/null",  // nothing from the host's /etc/dnsmasq.conf
          "--port=0",               // DHCP only: no DNS server
          "--bind-interfaces",
          "--interface=" + n.bridge,
          "--except-interface=lo",
          "--dhcp-range=" + net + ",static," + mask + ",1h",
          "--dhcp-hostsfile=" + dir + "/hosts",
          "--dhcp-leasefile=" + dir + "/leases",
          "--dhcp-authoritative",
          "--pid-file=" + dir + "/dnsmasq.pid",
          "--log-facility=" + dir + "/dnsmasq.log",
          "--user=root"};  // reads the hosts file again on SIGHUP, in our 0750 state folder
}

// dnsmasq forks into the background and its first process exits 0 once it serves; anything
// else (a bad option, the bridge without its address) is an exit status and a log line.
NetworkResult<void> spawn(const std::vector<std::string>& args, const std::string& dir) {
  const std::string err_path = dir + "/dnsmasq.err";
  SpawnOptions options;
  options.err.path = err_path;  // truncated: this start's complaint only
  auto pid = spawn_detached(args, options);
  if (!pid) return fail(dhcp_error("spawning dnsmasq: " + pid.error().message));
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::ifstream in(err_path);
  std::string why;
  std::getline(in, why);
  return fail(dhcp_error("dnsmasq exited with status " + std::to_string(WEXITSTATUS(status)) +
                         (why.empty() ? "" : ": " + why)));
}

}  // namespace

NetworkResult<void> DhcpServers::ensure(const storage::NetworkRecord& n,
                                        const std::vector<DhcpHost>& hosts) const {
  if (n.host_address.empty()) return {};
  auto range = parse_cidr(n.cidr);
  if (!range) return fail(dhcp_error("network " + n.name + ": " + range.error().message));
  const std::string dir = dir_ + "/" + n.id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(dhcp_error("creating " + dir + ": " + ec.message()));
  if (!write_hosts(dir + "/hosts", hosts)) {
    return fail(dhcp_error("writing " + dir + "/hosts: " + std::strerror(errno)));
  }
  if (const pid_t pid = running_pid(dir + "/dnsmasq.pid"); pid > 0) {
    ::kill(pid, SIGHUP);  // re-reads the hosts file
    return {};
  }
  const std::string binary = dnsmasq_binary();
  if (binary.empty()) {
    return fail(
        dhcp_error("dnsmasq is not installed (Debian: dnsmasq-base); no DHCP on " + n.name));
  }
  return spawn(dnsmasq_args(binary, n, *range, dir), dir);
}

void DhcpServers::stop(const storage::NetworkRecord& n) const {
  const std::string dir = dir_ + "/" + n.id;
  if (const pid_t pid = running_pid(dir + "/dnsmasq.pid"); pid > 0) ::kill(pid, SIGTERM);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace flotilla::network
