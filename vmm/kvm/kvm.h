// Kvm: the owner of the /dev/kvm fd. open() checks the API version and every capability the
// monitor relies on, with one clear error per missing capability.
#pragma once

#include <linux/kvm.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vmm/kvm/error.h"
#include "vmm/kvm/vm_fd.h"

namespace flotilla::vmm {

class Kvm {
 public:
  static VmmResult<Kvm> open(const std::string& path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  int check_extension(int cap) const;
  int max_vcpus() const { return max_vcpus_; }
  int recommended_vcpus() const { return nr_vcpus_; }
  size_t vcpu_mmap_size() const { return mmap_size_; }

  VmmResult<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  VmmResult<VmFd> create_vm() const;

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  size_t mmap_size_ = 0;
  int max_vcpus_ = 1;
  int nr_vcpus_ = 1;
};

}  // namespace flotilla::vmm
