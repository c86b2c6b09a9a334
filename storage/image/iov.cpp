#include "storage/image/iov.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace flotilla::storage {

size_t iov_total(std::span<const iovec> iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

std::vector<iovec> iov_slice(std::span<const iovec> iov, size_t skip, size_t len) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (len == 0) break;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    const size_t take = std::min(v.iov_len - skip, len);
    out.push_back(iovec{static_cast<char*>(v.iov_base) + skip, take});
    len -= take;
    skip = 0;
  }
  return out;
}

bool iov_aligned(std::span<const iovec> iov, size_t align) {
  return std::all_of(iov.begin(), iov.end(), [align](const iovec& v) {
    return reinterpret_cast<uintptr_t>(v.iov_base) % align == 0 && v.iov_len % align == 0;
  });
}

void iov_zero(std::span<const iovec> iov, size_t skip, size_t len) {
  for (const iovec& v : iov_slice(iov, skip, len)) std::memset(v.iov_base, 0, v.iov_len);
}

}  // namespace flotilla::storage
