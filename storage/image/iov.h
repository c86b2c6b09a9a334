// Small helpers over iovec arrays: total length, and the sub-array covering [skip, skip+len).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace flotilla::storage {

size_t iov_total(std::span<const iovec> iov);

// The iovecs covering bytes [skip, skip + len) of iov (len clipped to what is there).
std::vector<iovec> iov_slice(std::span<const iovec> iov, size_t skip, size_t len);

// True when every base and length is a multiple of align (O_DIRECT's rule).
bool iov_aligned(std::span<const iovec> iov, size_t align);

// preadv/pwritev of all of iov at offset, retrying EINTR and short transfers. A read at end of
// file zero-fills the rest (a file shortened under us reads as zeroes, never stale memory); a
// write that makes no progress is EIO. Returns 0 or the errno.
int transfer_full(int fd, uint64_t offset, std::span<const iovec> iov, bool write);

// Zero-fills bytes [skip, skip + len) of iov.
void iov_zero(std::span<const iovec> iov, size_t skip, size_t len);

}  // namespace flotilla::storage
