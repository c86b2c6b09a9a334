#include "api/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

namespace flotilla::api {

namespace {

constexpr std::string_view kPrefix = "flt_";
constexpr size_t kSecretChars = 43;  // base64url of 32 bytes, unpadded
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(const unsigned char* p, size_t n) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool is_b64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

ApiError unauthorized(std::string message) {
  return api_error(ApiErrc::unauthorized, std::move(message), "Authorization");
}

}  // namespace

std::string generate_token() {
  std::array<unsigned char, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    std::abort();  // no randomness: a broken host, not bad input
  }
  return std::string(kPrefix) + base64url(raw.data(), raw.size());
}

std::string token_sha256_hex(std::string_view token) {
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up on every digest.
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (kSha256 == nullptr ||
      EVP_Digest(token.data(), token.size(), md.data(), &len, kSha256, nullptr) != 1) {
    std::abort();  // SHA-256 unavailable: a broken OpenSSL install
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

bool is_token_format(std::string_view token) {
  if (token.size() != kPrefix.size() + kSecretChars || token.substr(0, 4) != kPrefix) return false;
  bool ok = true;
  for (char c : token.substr(kPrefix.size())) ok &= is_b64url(c);  // no early exit
  return ok;
}

void TokenCache::catch_up(uint64_t counter) {
  if (counter > counter_) {
    entries_.clear();
    counter_ = counter;
  }
}

storage::StoreResult<storage::TokenRecord> TokenCache::find(storage::StateStore& store,
                                                            const std::string& secret_sha256_hex) {
  const uint64_t counter = store.token_change_counter();  // before the record is read
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    catch_up(counter);
    if (auto it = entries_.find(secret_sha256_hex); it != entries_.end()) {
      if (now - it->second.loaded < kTtl) return it->second.record;
      entries_.erase(it);
    }
  }
  auto rec = store.find_token_by_hash(secret_sha256_hex);
  if (!rec) return rec;
  std::lock_guard lock(mu_);
  catch_up(counter);
  // Keep it only if no token write happened between our counter read and the newest one seen:
  // a record read before a revoke must never be served after it.
  if (counter == counter_) {
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_.insert_or_assign(secret_sha256_hex, Entry{*rec, now});
  }
  return rec;
}

namespace {

// Both authenticate() overloads: `find` looks the digest up (the store, or the cache).
template <class Find>
ApiResult<storage::TokenRecord> authenticate_with(Find&& find, std::string_view authorization,
                                                  int64_t now_ms) {
  if (authorization.empty()) return fail(unauthorized("missing bearer token"));
  const size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) {
    return fail(unauthorized("Authorization must be 'Bearer <token>'"));
  }
  std::string_view token = authorization.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (!is_token_format(token)) return fail(unauthorized("malformed bearer token"));
  auto rec = find(token_sha256_hex(token));
  if (!rec) {
    if (rec.error().code == storage::StoreErrc::not_found) {
      return fail(unauthorized("unknown token"));
    }
    return fail(api_error(ApiErrc::unavailable, "state store unavailable: " + rec.error().message));
  }
  if (rec->revoked) return fail(unauthorized("token revoked"));
  if (rec->expires_at != 0 && now_ms >= rec->expires_at) return fail(unauthorized("token expired"));
  return std::move(rec).value();
}

}  // namespace

// The store is searched by the SHA-256 of the presented token, so lookup timing depends only
// on a digest the caller cannot steer, never on how many secret characters were right (the
// cache, too, is keyed by the digest).
ApiResult<storage::TokenRecord> authenticate(storage::StateStore& store,
                                             std::string_view authorization, int64_t now_ms) {
  return authenticate_with([&](const std::string& hash) { return store.find_token_by_hash(hash); },
                           authorization, now_ms);
}

ApiResult<storage::TokenRecord> authenticate(storage::StateStore& store, TokenCache& cache,
                                             std::string_view authorization, int64_t now_ms) {
  return authenticate_with([&](const std::string& hash) { return cache.find(store, hash); },
                           authorization, now_ms);
}

}  // namespace flotilla::api
