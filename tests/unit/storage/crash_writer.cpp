// Helper for storage_crash_test: creates VMs as fast as it can and writes the id of each one
// whose create_vm() returned (the acknowledgement) to fd 3, one per line, until it is killed.
// (Not stdout: the store logs there.) Usage: storage_crash_writer <db path> <name prefix>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "storage/state_store.h"

namespace {

constexpr int kAckFd = 3;

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flotilla::storage;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <db path> <name prefix>\n", argv[0]);
    return 2;
  }
  auto store = StateStore::open(StoreOptions{argv[1], 5000, "crash-host"});
  if (!store) {
    std::fprintf(stderr, "open %s: %s\n", argv[1], store.error().message.c_str());
    return 1;
  }
  for (int i = 0;; ++i) {
    VmSpec spec;
    spec.name = std::string(argv[2]) + "-" + std::to_string(i);
    spec.boot.kernel = "/boot/probe";
    spec.disks = {{"/pool/" + spec.name + ".raw", false}};
    spec.nics = {{"default", ""}};
    auto vm = (*store)->create_vm(spec);
    if (!vm) {
      std::fprintf(stderr, "create %s: %s\n", spec.name.c_str(), vm.error().message.c_str());
      return 1;
    }
    if (!write_all(kAckFd, vm->id + "\n")) return 1;
    // Other tables take writes too, so the kill can land in any of them.
    if (!(*store)->append_audit({0, 0, "crash", "vm.create", vm->id, "ok", ""})) return 1;
  }
}
