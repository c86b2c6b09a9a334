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
  not_found,       // no such record
  conflict,        // unique name taken, or a generation mismatch
  invalid_state,   // the transition or delete is not allowed in the current state
  io,              // the host failed (disk full, permissions)
  corrupt,         // the file is not ours, fails integrity, or has a newer schema
};
std::string_view to_string(StoreErrc e);

struct StoreError {
  StoreErrc code;
  std::string message;
};

template <class T>
using StoreResult = Result<T, StoreError>;

struct StoreOptions {
  std::string path;          // the database file; created with its folder's permissions
  int busy_timeout_ms = 5000;
  std::string host_id;       // this host's id, recorded on the VMs it creates
};

class StateStore {
 public:
  // Opens (creating if needed) and migrates to the latest schema. Refuses a newer schema or a
  // file with another application_id.
  static StoreResult<std::unique_ptr<StateStore>> open(const StoreOptions& options);
  virtual ~StateStore() = default;

  virtual int schema_version() = 0;
  virtual StoreResult<std::string> integrity_check() = 0;  // "ok" or SQLite's report

  // VMs. create() fills id, host, timestamps, generation=1, states=stopped.
  virtual StoreResult<VmRecord> create_vm(const VmSpec& spec) = 0;
  virtual StoreResult<VmRecord> get_vm(const std::string& id) = 0;
  virtual StoreResult<VmRecord> get_vm_by_name(const std::string& name) = 0;
  virtual StoreResult<std::vector<VmRecord>> list_vms() = 0;
  // Replaces the spec; refused with invalid_state unless the VM is stopped or crashed; if
  // expected_generation is set and differs, conflict.
  virtual StoreResult<VmRecord> update_vm(const std::string& id, const VmSpec& spec,
                                          std::optional<uint64_t> expected_generation) = 0;
  // Moves actual state; refused with invalid_state unless valid_transition(actual, to).
  virtual StoreResult<VmRecord> set_vm_state(const std::string& id, VmState to) = 0;
  virtual StoreResult<VmRecord> set_vm_desired_state(const std::string& id, VmState to) = 0;
  // Refused with invalid_state unless stopped or crashed.
  virtual StoreResult<void> delete_vm(const std::string& id) = 0;

  // Tokens: only the SHA-256 of the secret is stored.
  virtual StoreResult<TokenRecord> create_token(const std::string& name, Role role,
                                                const std::string& secret_sha256_hex,
                                                int64_t expires_at) = 0;
  virtual StoreResult<std::vector<TokenRecord>> list_tokens() = 0;
  virtual StoreResult<void> revoke_token(const std::string& id) = 0;
  // The token whose hash matches, whatever its expiry or revocation (the caller decides).
  virtual StoreResult<TokenRecord> find_token_by_hash(const std::string& secret_sha256_hex) = 0;
  virtual StoreResult<int64_t> count_tokens() = 0;

  // Audit log (append-only).
  virtual StoreResult<void> append_audit(const AuditEntry& entry) = 0;
  virtual StoreResult<std::vector<AuditEntry>> list_audit(int64_t after_id, int limit) = 0;

  // Operations.
  virtual StoreResult<OperationRecord> create_operation(const std::string& kind,
                                                        const std::string& target) = 0;
  virtual StoreResult<OperationRecord> get_operation(const std::string& id) = 0;
  virtual StoreResult<std::vector<OperationRecord>> list_operations(int limit) = 0;
  virtual StoreResult<OperationRecord> update_operation(const std::string& id,
                                                        OperationState state, int progress,
                                                        const std::string& error) = 0;
};

}  // namespace flotilla::storage
