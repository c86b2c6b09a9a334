// Internal to api/: bearer-token authentication and the role matrix.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/api.h"
#include "storage/state_store.h"

namespace flotilla::api {

// True for "flt_" followed by exactly 43 base64url characters.
bool is_token_format(std::string_view token);

// Token records by SHA-256, so most requests skip SQLite. An entry serves for at most kTtl and
// only while the store's token change counter reads what it read before loading the entry:
// revoking (or creating, or any write to the tokens table through the store) empties the cache
// before the writing call returns. Unknown tokens are not cached (no growth from guessing).
// Revocation and expiry are still checked on every request by authenticate(). Thread-safe.
class TokenCache {
 public:
  static constexpr std::chrono::milliseconds kTtl{2000};
  static constexpr size_t kMaxEntries = 1024;

  storage::StoreResult<storage::TokenRecord> find(storage::StateStore& store,
                                                  const std::string& secret_sha256_hex);

 private:
  struct Entry {
    storage::TokenRecord record;
    std::chrono::steady_clock::time_point loaded;
  };
  void catch_up(uint64_t counter);  // mu_ held: forget everything read before `counter`

  std::mutex mu_;
  uint64_t counter_ = 0;                            // GUARDED_BY(mu_): what entries_ was read at
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_), keyed by SHA-256 hex
};

// Resolves "Bearer <token>" to its record: 401 when absent, malformed, unknown, revoked or
// expired (now_ms ≥ expires_at). With a cache, the record may come from it (see TokenCache).
ApiResult<storage::TokenRecord> authenticate(storage::StateStore& store,
                                             std::string_view authorization, int64_t now_ms);
ApiResult<storage::TokenRecord> authenticate(storage::StateStore& store, TokenCache& cache,
                                             std::string_view authorization, int64_t now_ms);

}  // namespace flotilla::api
