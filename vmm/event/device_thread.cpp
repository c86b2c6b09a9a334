#include "vmm/event/device_thread.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <string>

#include "common/thread_slice.h"

namespace flotilla::vmm {

void enter_device_thread(std::string_view name) {
  const std::string comm(name.substr(0, 15));  // the kernel's limit for a thread name
  pthread_setname_np(pthread_self(), comm.c_str());
  if (auto r = set_thread_slice(0, kDeviceThreadSliceNs); !r) {
    spdlog::debug("{}: keeps the default scheduler slice: {}", comm, std::strerror(r.error()));
  }
}

}  // namespace flotilla::vmm
