// NetworkManager's TAPs against the real kernel and a real state store: which TAPs plug(),
// unplug() and restore() make and remove, above all when two VMs' ids share the 8 hex digits
// their TAP names carry. The process first moves into fresh network and mount namespaces
// (unshare), so every bridge and TAP made here vanishes with it.
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "network/links.h"
#include "network/networks.h"
#include "storage/state_store.h"
#include "tests/support/netns.h"

namespace flotilla::network {
namespace {

namespace fs = std::filesystem;
using storage::VmState;

// Runs before main, while the process has one thread (as links_test.cpp): /sys/class/net then
// shows this namespace's links, the independent view the tests check against.
const int kNamespaceErrno = flotilla::test::enter_netns_with_sysfs();

bool link_exists(const std::string& name) {
  return fs::exists("/sys/class/net/" + name);
}

class NetworkManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kNamespaceErrno, 0)
        << "entering fresh network and mount namespaces failed (needs root): "
        << std::strerror(kNamespaceErrno);
    std::string templ = (fs::temp_directory_path() / "flotilla-netmgr-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
    auto store = storage::StateStore::open({dir_ + "/flotilla.db", 5000, "host-1"});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    auto manager = NetworkManager::create(*store_, dir_ + "/networks");
    ASSERT_TRUE(manager.ok()) << manager.error().message;
    manager_ = std::move(manager).value();
    // No host address, so no DHCP server: only bridges and TAPs are under test.
    NetworkRequest lan;
    lan.name = "lan";
    lan.cidr = "10.77.0.0/24";
    auto net = manager_->create_network(lan);
    ASSERT_TRUE(net.ok()) << net.error().message;
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A stopped VM in the store with `nics` NICs on "lan".
  storage::VmRecord make_vm(const std::string& name, size_t nics) {
    storage::VmSpec spec;
    spec.name = name;
    spec.boot.kernel = "/k";
    for (size_t i = 0; i < nics; ++i) spec.nics.push_back({"lan", ""});
    auto lock = manager_->lease_lock();
    auto assigned = manager_->assign_addresses(spec, nullptr);
    EXPECT_TRUE(assigned.ok()) << assigned.error().message;
    auto vm = store_->create_vm(spec);
    EXPECT_TRUE(vm.ok()) << vm.error().message;
    return vm.ok() ? *vm : storage::VmRecord{};
  }

  void move(const std::string& id, VmState to) {
    auto r = store_->set_vm_state(id, to);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::string dir_;
  std::unique_ptr<storage::StateStore> store_;
  std::unique_ptr<NetworkManager> manager_;
};

TEST_F(NetworkManagerTest, TapNamesCarryThePrefixOfTheVmId) {
  EXPECT_EQ(tap_prefix("0123abcd-aaaa-bbbb-cccc-000000000000"), "flt-0123abcd-");
  EXPECT_EQ(tap_name("0123abcd-aaaa-bbbb-cccc-000000000000", 7), "flt-0123abcd-7");
  EXPECT_LE(tap_name("fedc9876-aaaa-bbbb-cccc-000000000000", 15).size(), 15u);
}

TEST_F(NetworkManagerTest, PlugRefusesAVmWhoseTapNamesARunningVmHolds) {
  const auto a = make_vm("a", 1);
  ASSERT_FALSE(a.id.empty());
  move(a.id, VmState::starting);
  auto plugged = manager_->plug(a);
  ASSERT_TRUE(plugged.ok()) << plugged.error().message;
  ASSERT_EQ(plugged->size(), 1u);
  const std::string tap = (*plugged)[0].tap;
  EXPECT_EQ(tap, tap_name(a.id, 0));
  ASSERT_TRUE(link_exists(tap));
  move(a.id, VmState::running);

  // Another VM whose id starts with a's 8 hex digits: the same TAP names.
  storage::VmRecord b = a;
  b.id = a.id.substr(0, 8) + "-ffff-4fff-8fff-ffffffffffff";
  b.spec.name = "b";
  ASSERT_NE(b.id, a.id);
  ASSERT_EQ(tap_name(b.id, 0), tap);
  auto refused = manager_->plug(b);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, NetworkErrc::conflict);
  EXPECT_EQ(refused.error().field, "nics");
  EXPECT_NE(refused.error().message.find("VM 'a' (" + a.id + ")"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("running"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(link_exists(tap)) << "the refused plug removed a's TAP";
  // The supervisor's question before a start gets the same answer, touching nothing.
  auto asked = manager_->check_tap_names(b);
  ASSERT_FALSE(asked.ok());
  EXPECT_EQ(asked.error().message, refused.error().message);
  EXPECT_TRUE(manager_->check_tap_names(a).ok());
  manager_->unplug(b.id);
  EXPECT_TRUE(link_exists(tap)) << "b's unplug removed a's TAP";

  // a stops: its TAP goes with it, and b may have the names.
  move(a.id, VmState::stopping);
  manager_->unplug(a.id);
  move(a.id, VmState::stopped);
  EXPECT_FALSE(link_exists(tap));
  auto second = manager_->plug(b);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(link_exists(tap));
  manager_->unplug(b.id);
  EXPECT_FALSE(link_exists(tap));
}

TEST_F(NetworkManagerTest, RestoreRemovesOnlyTheTapsOfThisStoresStoppedVms) {
  const auto running = make_vm("running", 2);
  const auto stopped = make_vm("stopped", 2);
  ASSERT_FALSE(running.id.empty());
  ASSERT_FALSE(stopped.id.empty());
  ASSERT_NE(tap_prefix(running.id), tap_prefix(stopped.id));
  for (const auto* vm : {&running, &stopped}) {
    move(vm->id, VmState::starting);
    auto plugged = manager_->plug(*vm);
    ASSERT_TRUE(plugged.ok()) << plugged.error().message;
  }
  move(running.id, VmState::running);
  move(stopped.id, VmState::stopped);  // its monitor "died" while the daemon was down
  // A TAP of no VM of this store (another daemon's) stays.
  const std::string foreign = "flt-00000000-0";
  ASSERT_NE(tap_prefix(running.id), "flt-00000000-");
  ASSERT_NE(tap_prefix(stopped.id), "flt-00000000-");
  ASSERT_TRUE(create_persistent_tap(foreign).ok());

  auto removed = manager_->restore({running.id});
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{tap_name(stopped.id, 0), tap_name(stopped.id, 1)}));
  EXPECT_TRUE(link_exists(tap_name(running.id, 0)));
  EXPECT_TRUE(link_exists(tap_name(running.id, 1)));
  EXPECT_FALSE(link_exists(tap_name(stopped.id, 0)));
  EXPECT_FALSE(link_exists(tap_name(stopped.id, 1)));
  EXPECT_TRUE(link_exists(foreign));

  // Nothing stale is left: a second restore removes nothing.
  EXPECT_TRUE(manager_->restore({running.id}).empty());
}

}  // namespace
}  // namespace flotilla::network
