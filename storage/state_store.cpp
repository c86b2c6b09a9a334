#include "storage/state_store.h"

#include "storage/sqlite/schema.h"
#include "storage/sqlite/sqlite_state_store.h"

namespace flotilla::storage {

std::string_view to_string(StoreErrc e) {
  switch (e) {
    case StoreErrc::not_found:
      return "not_found";
    case StoreErrc::conflict:
      return "conflict";
    case StoreErrc::invalid_state:
      return "invalid_state";
    case StoreErrc::io:
      return "io";
    case StoreErrc::corrupt:
      return "corrupt";
  }
  return "unknown";
}

StoreResult<std::unique_ptr<StateStore>> StateStore::open(const StoreOptions& options) {
  auto db = sqlite::open_database(options);
  if (!db) return fail(db.error());
  std::unique_ptr<StateStore> store =
      std::make_unique<sqlite::SqliteStateStore>(std::move(*db), options.host_id);
  return store;
}

}  // namespace flotilla::storage
