// The SQLite implementation of StateStore: one connection, one mutex. Every public call takes
// mu_, so the connection and its statement cache are only ever used by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "storage/sqlite/sqlite_db.h"
#include "storage/state_store.h"

namespace flotilla::storage::sqlite {

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(SqliteDb db, std::string host_id);
  ~SqliteStateStore() override;
  SqliteStateStore(const SqliteStateStore&) = delete;
  SqliteStateStore& operator=(const SqliteStateStore&) = delete;

  int schema_version() override;
  StoreResult<std::string> integrity_check() override;

  StoreResult<VmRecord> create_vm(const VmSpec& spec) override;
  StoreResult<VmRecord> get_vm(const std::string& id) override;
  StoreResult<VmRecord> get_vm_by_name(const std::string& name) override;
  StoreResult<std::vector<VmRecord>> list_vms() override;
  StoreResult<VmRecord> update_vm(const std::string& id, const VmSpec& spec,
                                  std::optional<uint64_t> expected_generation) override;
  StoreResult<VmRecord> set_vm_state(const std::string& id, VmState to) override;
  StoreResult<VmRecord> record_vm_state(const std::string& id, VmState to,
                                        const std::string& reason) override;
  StoreResult<VmRecord> set_vm_desired_state(const std::string& id, VmState to) override;
  StoreResult<void> delete_vm(const std::string& id) override;
  StoreResult<PoolRecord> create_pool(const PoolRecord& pool) override;
  StoreResult<PoolRecord> get_pool(const std::string& id) override;
  StoreResult<PoolRecord> get_pool_by_name(const std::string& name) override;
  StoreResult<std::vector<PoolRecord>> list_pools() override;
  StoreResult<void> delete_pool(const std::string& id) override;
  StoreResult<DiskRecord> create_disk(const DiskRecord& disk) override;
  StoreResult<DiskRecord> get_disk(const std::string& id) override;
  StoreResult<DiskRecord> get_disk_by_name(const std::string& name) override;
  StoreResult<std::vector<DiskRecord>> list_disks(const std::string& pool_id) override;
  StoreResult<DiskRecord> resize_disk(const std::string& id, uint64_t size_bytes,
                                      const std::vector<DiskExtent>& extents) override;
  StoreResult<void> delete_disk(const std::string& id) override;
  StoreResult<VmRecord> attach_disk(const std::string& vm_id, const std::string& disk_id,
                                    bool read_only) override;
  StoreResult<VmRecord> detach_disk(const std::string& vm_id, const std::string& disk_id) override;

  StoreResult<NetworkRecord> create_network(const NetworkRecord& network) override;
  StoreResult<NetworkRecord> get_network(const std::string& id) override;
  StoreResult<NetworkRecord> get_network_by_name(const std::string& name) override;
  StoreResult<std::vector<NetworkRecord>> list_networks() override;
  StoreResult<void> delete_network(const std::string& id) override;
  StoreResult<VmRecord> set_nic_limits(const std::string& vm_id, size_t index,
                                       const NicLimits& limits) override;

  uint64_t vm_change_counter() const override;
  uint64_t token_change_counter() const override;

  StoreResult<TokenRecord> create_token(const std::string& name, Role role,
                                        const std::string& secret_sha256_hex,
                                        int64_t expires_at) override;
  StoreResult<std::vector<TokenRecord>> list_tokens() override;
  StoreResult<void> revoke_token(const std::string& id) override;
  StoreResult<TokenRecord> find_token_by_hash(const std::string& secret_sha256_hex) override;
  StoreResult<int64_t> count_tokens() override;

  StoreResult<void> append_audit(const AuditEntry& entry) override;
  StoreResult<std::vector<AuditEntry>> list_audit(int64_t after_id, int limit) override;

  StoreResult<OperationRecord> create_operation(const std::string& kind,
                                                const std::string& target) override;
  StoreResult<OperationRecord> get_operation(const std::string& id) override;
  StoreResult<std::vector<OperationRecord>> list_operations(int limit) override;
  StoreResult<OperationRecord> update_operation(const std::string& id, OperationState state,
                                                int progress, const std::string& error) override;

 private:
  // Helpers below expect mu_ held (and, for writers, a write Txn open).
  StoreResult<VmRecord> load_vm(const std::string& id);
  StoreResult<VmRecord> load_vm_by_name(const std::string& name);
  StoreResult<VmRecord> write_vm_state(const std::string& id, const char* column, VmState to,
                                       const std::string* reason = nullptr);
  StoreResult<VmRecord> apply_vm_update(const VmRecord& current, const VmSpec& spec);
  StoreResult<TokenRecord> load_token(const char* sql, const std::string& key);
  StoreResult<OperationRecord> load_operation(const std::string& id);

  // SQLite's update hook: bumps the counters for every row a statement on db_ changes.
  static void on_row_change(void* self, int op, const char* db, const char* table, int64_t rowid);

  std::mutex mu_;
  SqliteDb db_;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> vm_changes_{0};
  std::atomic<uint64_t> token_changes_{0};
  const std::string host_id_;
};

// Current time in unix milliseconds.
int64_t now_ms();

}  // namespace flotilla::storage::sqlite
