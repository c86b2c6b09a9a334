// The records the state store keeps. Plain structs: the API validates into them, the store
// persists them, the daemon acts on them. Field names match the REST API's JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::storage {

// The VM lifecycle (DESIGN.md, Cloud Hypervisor VmState). valid_transition() is the one rule.
enum class VmState { stopped, starting, running, paused, stopping, crashed };
std::string_view to_string(VmState s);
std::optional<VmState> vm_state_from_string(std::string_view s);
bool valid_transition(VmState from, VmState to);

struct BootSource {
  std::string kernel;   // host path of a PVH ELF (probe guest, vmlinux)
  std::string initrd;   // optional, empty if none
  std::string cmdline;  // at most kMaxCmdline bytes
  bool operator==(const BootSource&) const = default;
};
inline constexpr size_t kMaxCmdline = 2048;

struct DiskAttachment {
  std::string path;  // host path of the image; for a pool disk, its file or its pool's device
  bool read_only = false;
  std::string disk_id = {};  // a pool disk (POST /v1/vms/{vm}/disks), or "" for a path-only disk
  bool operator==(const DiskAttachment&) const = default;
};

// Token-bucket limits of one NIC (0 = unlimited). rx: host → guest, tx: guest → host.
struct NicLimits {
  uint64_t rx_bytes_per_sec = 0;
  uint64_t rx_packets_per_sec = 0;
  uint64_t tx_bytes_per_sec = 0;
  uint64_t tx_packets_per_sec = 0;
  bool operator==(const NicLimits&) const = default;
};

struct NicAttachment {
  std::string network;          // the network's name (as read back: its current name)
  std::string mac;              // "aa:bb:cc:dd:ee:ff" lower case; allocated when the NIC is added
  std::string network_id = {};  // the network (schema 6); "" only in rows older than networks
  std::string ip = {};          // IPv4 leased from the network's range ("10.0.0.5"), or ""
  NicLimits limits = {};
  bool operator==(const NicAttachment&) const = default;
};

enum class CpuMode { timeshare, partition };
struct CpuPolicy {
  CpuMode mode = CpuMode::timeshare;
  uint32_t weight = 100;         // timeshare: relative share, 1..10000
  uint32_t cap_percent = 0;      // timeshare: 0 = no cap, else percent of one host core
  uint32_t dedicated_cores = 0;  // partition: number of host cores
  bool operator==(const CpuPolicy&) const = default;
};

enum class MemoryMode { shared, reserved };
struct MemoryPolicy {
  MemoryMode mode = MemoryMode::shared;
  bool operator==(const MemoryPolicy&) const = default;
};

enum class RestartPolicy { never, on_crash, always };

// What a user defines (POST /v1/vms, PATCH /v1/vms/{id}).
struct VmSpec {
  std::string name;  // [a-z0-9][a-z0-9-]{0,62}, unique per host
  uint32_t vcpus = 1;
  uint64_t memory_mib = 128;
  BootSource boot;
  std::vector<DiskAttachment> disks;
  std::vector<NicAttachment> nics;
  CpuPolicy cpu;
  MemoryPolicy memory;
  RestartPolicy restart = RestartPolicy::never;
  bool operator==(const VmSpec&) const = default;
};

struct VmRecord {
  std::string id;    // UUIDv4
  std::string host;  // the host that runs it (ids and names carry a host for the fleet later)
  VmSpec spec;
  VmState desired = VmState::stopped;
  VmState actual = VmState::stopped;
  std::string state_reason;  // why the VM is in `actual` (a crash's exit and console), or ""
  int64_t created_at = 0;    // unix milliseconds
  int64_t updated_at = 0;
  uint64_t generation = 1;  // bumped by every update (optimistic concurrency, ETag)
};

// Disk pools (schema 5). A dir pool keeps one image file per disk in a folder; a partitioned
// pool cuts one large device or file into extents, and a disk is an ordered list of them.
enum class PoolType { dir, partitioned };
std::string_view to_string(PoolType t);
std::optional<PoolType> pool_type_from_string(std::string_view s);

struct PoolRecord {
  std::string id;  // UUIDv4
  std::string host;
  std::string name;  // [a-z0-9][a-z0-9-]{0,62}, unique per host
  PoolType type = PoolType::dir;
  std::string path;             // dir: the folder; partitioned: the device or file
  uint64_t capacity_bytes = 0;  // partitioned: bytes usable for extents; dir: 0 (the file system)
  int64_t created_at = 0;
};

// One piece of a partitioned-pool disk: bytes [host_offset, host_offset + length) of the pool's
// device, in the disk's virtual order.
struct DiskExtent {
  uint64_t host_offset = 0;
  uint64_t length = 0;
  bool operator==(const DiskExtent&) const = default;
};

struct DiskRecord {
  std::string id;  // UUIDv4
  std::string host;
  std::string name;  // unique per host
  std::string pool_id;
  std::string format = "raw";       // "raw" | "qcow2"
  uint64_t size_bytes = 0;          // virtual size
  std::string path;                 // dir pools: the image file; partitioned: the pool's device
  std::string backing_disk_id;      // qcow2 overlay on this disk, or ""
  std::vector<DiskExtent> extents;  // partitioned pools only, in virtual order
  std::string attached_to;          // the VM it is attached to, or "" (read from vm_disks)
  int64_t created_at = 0;
  int64_t updated_at = 0;
  uint64_t generation = 1;
};

// Networks (schema 6): a Linux bridge the daemon created or adopted, with an IPv4 range from
// which its NICs lease addresses. `cidr` is the range ("10.0.0.0/24"); host_address the bridge's
// own address in it ("10.0.0.1"), or "" when the host has none on this network.
enum class NetworkMode { isolated, uplink };
std::string_view to_string(NetworkMode m);
std::optional<NetworkMode> network_mode_from_string(std::string_view s);

struct NetworkRecord {
  std::string id;  // UUIDv4
  std::string host;
  std::string name;  // [a-z0-9][a-z0-9-]{0,62}, unique per host
  std::string bridge;
  bool bridge_adopted = false;  // it existed before: deleting the network leaves it
  std::string cidr;
  std::string host_address;
  NetworkMode mode = NetworkMode::isolated;
  std::string uplink_interface;  // uplink: the host interface enslaved to the bridge
  uint32_t nic_count = 0;        // read-only: NICs of VMs on it
  int64_t created_at = 0;
};

enum class Role { viewer, helpdesk, operator_, admin };
std::string_view to_string(Role r);
std::optional<Role> role_from_string(std::string_view s);

struct TokenRecord {
  std::string id;  // UUIDv4; the secret itself is never stored, only its SHA-256
  std::string name;
  Role role = Role::viewer;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // 0 = never
  bool revoked = false;
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at = 0;      // unix milliseconds
  std::string actor;   // token name or "system"
  std::string action;  // e.g. "vm.create"
  std::string target;  // resource id
  std::string result;  // "ok" or an error code
  std::string request_id;
};

enum class OperationState { pending, running, succeeded, failed, cancelled };
std::string_view to_string(OperationState s);
std::optional<OperationState> operation_state_from_string(std::string_view s);
// succeeded, failed and cancelled are final: the store refuses to change such an operation.
bool is_terminal(OperationState s);

struct OperationRecord {
  std::string id;      // UUIDv4
  std::string kind;    // "vm.start", "disk.import", ...
  std::string target;  // resource id
  OperationState state = OperationState::pending;
  int progress = 0;   // 0..100
  std::string error;  // empty unless failed
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

}  // namespace flotilla::storage
