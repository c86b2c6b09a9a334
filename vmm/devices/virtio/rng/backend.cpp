// GetrandomBackend: the host kernel's CSPRNG.
#include "vmm/devices/virtio/rng/backend.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace flotilla::vmm::virtio {

Result<void, VirtioError> GetrandomBackend::fill(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(VirtioError{VirtioErrorCode::kBackend,
                              std::string("getrandom: ") + std::strerror(errno)});
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace flotilla::vmm::virtio
