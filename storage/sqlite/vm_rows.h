// How a VmRecord maps to rows of vms, vm_disks and vm_nics (schema 2 and later).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "storage/model.h"
#include "storage/sqlite/sqlite_db.h"

namespace flotilla::storage::sqlite {

// The columns read_vm_row() expects, in order; append "FROM vms ...".
extern const char* const kVmColumns;

// Fills everything but disks and NICs from a row selected with kVmColumns. A value the schema's
// CHECKs should have kept out is reported as corrupt.
StoreResult<VmRecord> read_vm_row(const Query& q);

// Binds the spec's scalar columns as ?3.. in the order of the INSERT and UPDATE below.
extern const char* const kInsertVmSql;
extern const char* const kUpdateVmSql;
void bind_vm_spec(Query& q, const VmSpec& spec);

// Replaces the disk and NIC rows of one VM.
StoreResult<void> write_vm_children(SqliteDb& db, const std::string& vm_id, const VmSpec& spec);
// Loads disks and NICs into record.spec.
StoreResult<void> read_vm_children(SqliteDb& db, VmRecord& record);
// Loads disks and NICs of every record (two queries, not two per VM).
StoreResult<void> read_all_vm_children(SqliteDb& db, std::vector<VmRecord>& records);

}  // namespace flotilla::storage::sqlite
