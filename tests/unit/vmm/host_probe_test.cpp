#include "vmm/kvm/host_probe.h"

#include <gtest/gtest.h>

namespace flotilla::vmm {
namespace {

TEST(HostProbe, ReportsThisHostsKvm) {
  const HostKvmInfo info = probe_host_kvm();
  ASSERT_TRUE(info.available) << info.error;
  EXPECT_EQ(info.api_version, 12);
  EXPECT_TRUE(info.flavour == "vmx" || info.flavour == "svm" || info.flavour == "pvm")
      << info.flavour;
  size_t n = 0;
  kvm_capability_names(&n);
  EXPECT_EQ(info.capabilities.size(), n);
  EXPECT_GT(info.capabilities.at("IRQCHIP"), 0);
  EXPECT_GT(info.capabilities.at("MAX_VCPUS"), 0);
}

TEST(HostProbe, MissingDeviceIsAClearError) {
  const HostKvmInfo info = probe_host_kvm("/nonexistent/kvm");
  EXPECT_FALSE(info.available);
  EXPECT_EQ(info.flavour, "none");
  EXPECT_NE(info.error.find("does not exist"), std::string::npos) << info.error;
  EXPECT_TRUE(info.capabilities.empty());
}

TEST(HostProbe, NonKvmDeviceIsRefused) {
  const HostKvmInfo info = probe_host_kvm("/dev/null");
  EXPECT_FALSE(info.available);
  EXPECT_FALSE(info.error.empty());
}

}  // namespace
}  // namespace flotilla::vmm
