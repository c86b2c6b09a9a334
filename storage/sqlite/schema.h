// The state store's file format: its application_id, the numbered migrations keyed on
// PRAGMA user_version, and the one function that opens a connection.
#pragma once

#include <cstdint>
#include <string>

#include "storage/sqlite/sqlite_db.h"
#include "storage/state_store.h"

namespace flotilla::storage::sqlite {

// PRAGMA application_id of every Flotilla state store: "FLTA". A file with another id is not ours.
inline constexpr int32_t kApplicationId = 0x464c5441;

// The schema this build writes. A file with a higher user_version is refused as corrupt.
int latest_schema_version();

// The SQL of migration 1 exactly as the first release ran it (tests build a v1 file with it).
const std::string& v1_schema_sql();

// Opens path the one way every connection is opened: creates the parent folder, checks the file
// (refuses a non-database, another application's file, or a newer schema, leaving it untouched),
// then WAL, synchronous=FULL, foreign_keys=ON, busy_timeout, and runs the pending migrations,
// each in its own BEGIN IMMEDIATE transaction.
StoreResult<SqliteDb> open_database(const StoreOptions& options);

}  // namespace flotilla::storage::sqlite
