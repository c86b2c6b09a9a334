// VmConfig: the definition flotilla-vmm runs (team/VMM.md "Monitor process"): a JSON file
// (--config) and/or flags, flags winning. validate_config() checks everything BEFORE any VM
// is created; every problem is one clear line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/image/block_image.h"
#include "vmm/kvm/error.h"
#include "vmm/monitor/nic_config.h"

namespace flotilla::vmm {

enum class OnReset { kReboot, kExit };

// One virtio-blk disk (team/STORAGE.md "Monitor config: disks"). Slot order: rng, then disks.
struct DiskConfig {
  std::string path;
  storage::ImageFormat format = storage::ImageFormat::kRaw;
  bool read_only = false;
  std::string serial;                        // ≤ 20 bytes, returned by VIRTIO_BLK_T_GET_ID
  bool direct = false;                       // O_DIRECT where the file system allows it
  std::vector<storage::HostExtent> extents;  // raw only: a partitioned-pool disk
};

inline constexpr size_t kMaxDisks = 16;

// The OpenOptions a disk is opened with (validation and every boot).
storage::OpenOptions open_options(const DiskConfig& disk);
// Parses one --disk value: PATH[,format=raw|qcow2][,ro][,serial=ID][,direct].
VmmResult<DiskConfig> parse_disk_flag(const std::string& text);

struct VmConfig {
  std::string kernel;
  uint32_t vcpus = 1;
  uint64_t memory_mib = 128;
  std::string cmdline;
  std::string control_socket;  // "" = none
  std::string console_log;     // "" = none
  std::string exit_file;       // "" = none: the exit record (exit_record.h)
  OnReset on_reset = OnReset::kReboot;
  bool rng = false;  // virtio-rng in slot 0
  // Reserved memory (scheduler policy `memory.mode: reserved`): guest RAM is prefaulted and
  // mlock()ed before the guest runs, so the host never swaps or reclaims it.
  bool lock_memory = false;
  std::vector<DiskConfig> disks;  // virtio-blk, in the slots after the rng
  std::vector<NicConfig> nics;    // virtio-net, in the slots after the disks
};

// Host facts validation compares against (injected for tests).
struct HostLimits {
  uint64_t memory_bytes = 0;       // host RAM
  uint32_t max_vcpus = 0;          // KVM_CAP_MAX_VCPUS
  uint32_t recommended_vcpus = 0;  // KVM_CAP_NR_VCPUS
};

// Parses the JSON text of a config file into `config` (only the keys present change it).
// Unknown keys and wrong types are errors naming the key.
VmmResult<void> apply_config_json(const std::string& text, VmConfig& config);

// Parses argv (flags per VMM.md; --config FILE read first, flags override it).
// Returns the config, nullopt when --help was printed, or an error (exit status 2).
VmmResult<std::optional<VmConfig>> parse_command_line(int argc, const char* const* argv);

// Checks the definition against the host and the kernel file (it must be a PVH ELF that fits),
// and opens every disk (a bad one: "disk N (PATH): reason").
// Returns warnings (e.g. more vCPUs than KVM recommends) or the first error.
VmmResult<std::vector<std::string>> validate_config(const VmConfig& config, const HostLimits& host);

HostLimits host_limits_from_system(uint32_t max_vcpus, uint32_t recommended_vcpus);

}  // namespace flotilla::vmm
