// Network namespaces for tests that make bridges, TAPs and veths: called once before main, while
// the process has one thread (unshare(CLONE_NEWNET) applies to the calling thread only), so
// everything the binary makes lives and dies in its own namespace and no packet leaves it.
// Each returns 0 or the errno; tests assert on it with a clear message (needs root).
#pragma once

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <fstream>

namespace flotilla::test {

// A new network namespace with IPv6 off, so the kernel sends no router solicitations or DAD
// probes that a guest would receive among its test frames.
inline int enter_quiet_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return errno;
  std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
  return 0;
}

// A new network namespace and a new mount namespace with sysfs mounted again, so
// /sys/class/net shows this namespace's links: the kernel's view the tests check against.
inline int enter_netns_with_sysfs() {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) return errno;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  if (::mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0) return errno;
  return 0;
}

}  // namespace flotilla::test
