// StateStore: every durable definition the daemon keeps, in one SQLite file.
// Opened once per process (never shared across fork()); safe to call from several threads
// (each call takes the store's own mutex; writes run in BEGIN IMMEDIATE and are durable when
// the call returns: WAL with synchronous=FULL).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/model.h"

namespace flotilla::storage {

enum class StoreErrc {
  not_found,      // no such record
  conflict,       // unique name taken, or a generation mismatch
  invalid_state,  // the transition or delete is not allowed in the current state
  io,             // the host failed (disk full, permissions)
  corrupt,        // the file is not ours, fails integrity, or has a newer schema
};
std::string_view to_string(StoreErrc e);

struct StoreError {
  StoreErrc code;
  std::string message;
};

template <class T>
using StoreResult = Result<T, StoreError>;

struct StoreOptions {
  std::string path;  // the database file; created with its folder's permissions
  int busy_timeout_ms = 5000;
  std::string host_id;  // this host's id, recorded on the VMs it creates
};

class StateStore {
 public:
  // Opens (creating if needed) and migrates to the latest schema. Refuses a newer schema or a
  // file with another application_id.
  static StoreResult<std::unique_ptr<StateStore>> open(const StoreOptions& options);
  virtual ~StateStore() = default;

  virtual int schema_version() = 0;
  virtual StoreResult<std::string> integrity_check() = 0;  // "ok" or SQLite's report

  // VMs. create() fills id, host, timestamps, generation=1, states=stopped. A name taken on
  // this host is a conflict whose message names it; so is a NIC whose MAC (anywhere) or IP (on
  // its network) another NIC has, the message starting "nics[<i>]". get_vm_by_name prefers this
  // host's VM; list_vms returns every VM in creation order.
  virtual StoreResult<VmRecord> create_vm(const VmSpec& spec) = 0;
  virtual StoreResult<VmRecord> get_vm(const std::string& id) = 0;
  virtual StoreResult<VmRecord> get_vm_by_name(const std::string& name) = 0;
  virtual StoreResult<std::vector<VmRecord>> list_vms() = 0;
  // Replaces the spec; if expected_generation is set and differs, conflict (checked first);
  // refused with invalid_state unless the VM is stopped or crashed, or only `cpu` changes (the
  // scheduler applies a CPU policy to a running VM live).
  virtual StoreResult<VmRecord> update_vm(const std::string& id, const VmSpec& spec,
                                          std::optional<uint64_t> expected_generation) = 0;
  // Moves actual state; refused with invalid_state unless valid_transition(actual, to).
  // State moves change updated_at but not generation (that counts spec changes only).
  virtual StoreResult<VmRecord> set_vm_state(const std::string& id, VmState to) = 0;
  // The same, recording why (the VM's state_reason; "" clears it).
  virtual StoreResult<VmRecord> record_vm_state(const std::string& id, VmState to,
                                                const std::string& reason) = 0;
  virtual StoreResult<VmRecord> set_vm_desired_state(const std::string& id, VmState to) = 0;
  // Refused with invalid_state unless stopped or crashed.
  virtual StoreResult<void> delete_vm(const std::string& id) = 0;

  // Disk pools and disks (schema 5). Names are unique per host (conflict naming it). A pool
  // with disks, a disk attached to a VM, and a disk that is another disk's backing file are
  // refused with invalid_state. create_pool/create_disk fill host, timestamps and, when the
  // record's id is empty, a new id (a pool rebuilt from its device keeps its disks' ids).
  virtual StoreResult<PoolRecord> create_pool(const PoolRecord& pool) = 0;
  virtual StoreResult<PoolRecord> get_pool(const std::string& id) = 0;
  virtual StoreResult<PoolRecord> get_pool_by_name(const std::string& name) = 0;
  virtual StoreResult<std::vector<PoolRecord>> list_pools() = 0;
  virtual StoreResult<void> delete_pool(const std::string& id) = 0;

  // Disks come back with their extents and the VM they are attached to. list_disks("") lists
  // every disk, list_disks(pool_id) one pool's, in creation order.
  virtual StoreResult<DiskRecord> create_disk(const DiskRecord& disk) = 0;
  virtual StoreResult<DiskRecord> get_disk(const std::string& id) = 0;
  virtual StoreResult<DiskRecord> get_disk_by_name(const std::string& name) = 0;
  virtual StoreResult<std::vector<DiskRecord>> list_disks(const std::string& pool_id) = 0;
  // New size and extent list (growth); bumps generation.
  virtual StoreResult<DiskRecord> resize_disk(const std::string& id, uint64_t size_bytes,
                                              const std::vector<DiskExtent>& extents) = 0;
  virtual StoreResult<void> delete_disk(const std::string& id) = 0;

  // Attaches a pool disk to a VM as its last disk (path = the disk's path). Refused with
  // invalid_state unless the VM is stopped or crashed, or when the disk is attached anywhere
  // already (conflict), or the VM has 16 disks. Bumps the VM's generation.
  virtual StoreResult<VmRecord> attach_disk(const std::string& vm_id, const std::string& disk_id,
                                            bool read_only) = 0;
  // Removes that pool disk from the VM (not_found if it is not attached there).
  virtual StoreResult<VmRecord> detach_disk(const std::string& vm_id,
                                            const std::string& disk_id) = 0;

  // Networks (schema 6). Names and bridges are unique per host (conflict naming it). A network
  // its NICs use is refused with invalid_state naming how many. create_network fills id (when
  // empty), host and created_at; nic_count is filled on every read.
  virtual StoreResult<NetworkRecord> create_network(const NetworkRecord& network) = 0;
  virtual StoreResult<NetworkRecord> get_network(const std::string& id) = 0;
  virtual StoreResult<NetworkRecord> get_network_by_name(const std::string& name) = 0;
  virtual StoreResult<std::vector<NetworkRecord>> list_networks() = 0;
  virtual StoreResult<void> delete_network(const std::string& id) = 0;
  // Replaces NIC `index`'s rate limits in any VM state (they change live); bumps generation.
  // not_found when the VM has no such NIC.
  virtual StoreResult<VmRecord> set_nic_limits(const std::string& vm_id, size_t index,
                                               const NicLimits& limits) = 0;

  // Change counters, for callers that cache what they derive from the records (the API's
  // GET /v1/vms body, its token cache). Each is bumped by every row written to its tables (VMs:
  // vms, vm_disks, vm_nics; tokens: tokens), by any call, before that call returns; a write
  // that rolls back may bump it too. Lock-free. A cache is fresh when the counter it read
  // *before* reading the records still has the same value.
  virtual uint64_t vm_change_counter() const = 0;
  virtual uint64_t token_change_counter() const = 0;

  // Tokens: only the SHA-256 of the secret is stored. The digest is 64 hex digits (either
  // case); create_token() aborts on anything else (a caller bug), and a second token with the
  // same digest is a conflict.
  virtual StoreResult<TokenRecord> create_token(const std::string& name, Role role,
                                                const std::string& secret_sha256_hex,
                                                int64_t expires_at) = 0;
  virtual StoreResult<std::vector<TokenRecord>> list_tokens() = 0;
  virtual StoreResult<void> revoke_token(const std::string& id) = 0;
  // The token whose hash matches, whatever its expiry or revocation (the caller decides).
  virtual StoreResult<TokenRecord> find_token_by_hash(const std::string& secret_sha256_hex) = 0;
  virtual StoreResult<int64_t> count_tokens() = 0;

  // Audit log (append-only; the file refuses UPDATE and DELETE). entry.at == 0 means now.
  // list_audit: entries with id > after_id, oldest first; limit <= 0 means all.
  virtual StoreResult<void> append_audit(const AuditEntry& entry) = 0;
  virtual StoreResult<std::vector<AuditEntry>> list_audit(int64_t after_id, int limit) = 0;

  // Operations. list_operations: newest first; limit <= 0 means all. update_operation is
  // refused with invalid_state when progress is outside 0..100 or the operation has already
  // ended (succeeded, failed, cancelled).
  virtual StoreResult<OperationRecord> create_operation(const std::string& kind,
                                                        const std::string& target) = 0;
  virtual StoreResult<OperationRecord> get_operation(const std::string& id) = 0;
  virtual StoreResult<std::vector<OperationRecord>> list_operations(int limit) = 0;
  virtual StoreResult<OperationRecord> update_operation(const std::string& id, OperationState state,
                                                        int progress, const std::string& error) = 0;
};

}  // namespace flotilla::storage
