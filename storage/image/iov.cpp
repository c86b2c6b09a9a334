#include "storage/image/iov.h"

#include <sys/uio.h>
#include <unistd.h>
#include <climits>

#include <algorithm>
#include <cerrno>
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

int transfer_full(int fd, uint64_t offset, std::span<const iovec> iov, bool write) {
  size_t remaining = iov_total(iov);
  size_t done = 0;
  while (remaining > 0) {
    std::vector<iovec> rest = iov_slice(iov, done, remaining);
    const int count = static_cast<int>(std::min<size_t>(rest.size(), IOV_MAX));
    const ssize_t n = write ? ::pwritev(fd, rest.data(), count, static_cast<off_t>(offset + done))
                            : ::preadv(fd, rest.data(), count, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) {
      if (write) return EIO;
      iov_zero(iov, done, remaining);
      return 0;
    }
    done += static_cast<size_t>(n);
    remaining -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace flotilla::storage
