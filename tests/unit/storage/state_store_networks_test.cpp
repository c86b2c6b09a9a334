// Networks and what NICs lease from them (schema 6), on real SQLite files.
#include <gtest/gtest.h>

#include "tests/unit/storage/store_test_util.h"

namespace flotilla::storage::test {
namespace {

NetworkRecord sample_network(const std::string& name, const std::string& cidr) {
  NetworkRecord n;
  n.name = name;
  n.bridge = "flb-" + name;
  n.cidr = cidr;
  n.host_address = cidr.substr(0, cidr.rfind('.')) + ".1";
  return n;
}

class NetworkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.file("f.db"));
    ASSERT_NE(store_, nullptr);
    auto n = store_->create_network(sample_network("lan", "10.1.0.0/24"));
    ASSERT_TRUE(n) << n.error().message;
    lan_ = *n;
  }

  VmSpec spec_on_lan(const std::string& name, const std::string& mac, const std::string& ip) {
    VmSpec spec = sample_spec(name);
    spec.nics = {{"lan", mac, lan_.id, ip, {}}};
    return spec;
  }

  TempDir dir_;
  std::unique_ptr<StateStore> store_;
  NetworkRecord lan_;
};

TEST_F(NetworkStoreTest, CrudNamesAndBridgesUniquePerHost) {
  EXPECT_EQ(lan_.id.size(), 36u);
  EXPECT_EQ(lan_.host, "host-a");
  EXPECT_GT(lan_.created_at, 0);
  auto again = store_->create_network(sample_network("lan", "10.2.0.0/24"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StoreErrc::conflict);
  EXPECT_NE(again.error().message.find("lan"), std::string::npos);
  NetworkRecord same_bridge = sample_network("other", "10.3.0.0/24");
  same_bridge.bridge = lan_.bridge;
  EXPECT_EQ(store_->create_network(same_bridge).error().code, StoreErrc::conflict);

  NetworkRecord up = sample_network("up", "10.4.0.0/16");
  up.mode = NetworkMode::uplink;
  up.uplink_interface = "eth9";
  up.bridge_adopted = true;
  ASSERT_TRUE(store_->create_network(up));
  auto got = store_->get_network_by_name("up");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->mode, NetworkMode::uplink);
  EXPECT_EQ(got->uplink_interface, "eth9");
  EXPECT_TRUE(got->bridge_adopted);
  EXPECT_EQ(got->cidr, "10.4.0.0/16");
  EXPECT_EQ(got->host_address, "10.4.0.1");
  auto all = store_->list_networks();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "lan");
  ASSERT_TRUE(store_->delete_network(got->id));
  EXPECT_EQ(store_->get_network(got->id).error().code, StoreErrc::not_found);
  EXPECT_EQ(store_->delete_network(got->id).error().code, StoreErrc::not_found);
}

TEST_F(NetworkStoreTest, NicsKeepNetworkIpAndLimitsAndBlockDelete) {
  VmSpec spec = spec_on_lan("web", "02:f1:0a:00:00:01", "10.1.0.2");
  spec.nics[0].limits = {1000000, 2000, 3000000, 4000};
  auto vm = store_->create_vm(spec);
  ASSERT_TRUE(vm) << vm.error().message;
  ASSERT_EQ(vm->spec.nics.size(), 1u);
  const NicAttachment& nic = vm->spec.nics[0];
  EXPECT_EQ(nic.network, "lan");
  EXPECT_EQ(nic.network_id, lan_.id);
  EXPECT_EQ(nic.ip, "10.1.0.2");
  EXPECT_EQ(nic.limits, (NicLimits{1000000, 2000, 3000000, 4000}));
  EXPECT_EQ(store_->get_network(lan_.id)->nic_count, 1u);

  auto in_use = store_->delete_network(lan_.id);
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code, StoreErrc::invalid_state);
  EXPECT_NE(in_use.error().message.find("1 NIC"), std::string::npos) << in_use.error().message;

  ASSERT_TRUE(store_->delete_vm(vm->id));
  EXPECT_EQ(store_->get_network(lan_.id)->nic_count, 0u);
  EXPECT_TRUE(store_->delete_network(lan_.id));
}

TEST_F(NetworkStoreTest, MacUniqueAcrossTheStoreAndIpPerNetwork) {
  ASSERT_TRUE(store_->create_vm(spec_on_lan("a", "02:f1:0a:00:00:01", "10.1.0.2")));
  auto same_mac = store_->create_vm(spec_on_lan("b", "02:f1:0a:00:00:01", "10.1.0.3"));
  ASSERT_FALSE(same_mac);
  EXPECT_EQ(same_mac.error().code, StoreErrc::conflict);
  EXPECT_EQ(same_mac.error().message.rfind("nics[0]", 0), 0u) << same_mac.error().message;
  EXPECT_FALSE(store_->get_vm_by_name("b"));  // nothing of it was kept

  auto same_ip = store_->create_vm(spec_on_lan("b", "02:f1:0a:00:00:02", "10.1.0.2"));
  ASSERT_FALSE(same_ip);
  EXPECT_EQ(same_ip.error().code, StoreErrc::conflict);

  auto other = store_->create_network(sample_network("dmz", "10.9.0.0/24"));
  ASSERT_TRUE(other);
  VmSpec on_dmz = spec_on_lan("c", "02:f1:0a:00:00:03", "10.1.0.2");
  on_dmz.nics[0].network_id = other->id;  // the same address on another network is fine
  EXPECT_TRUE(store_->create_vm(on_dmz));
}

TEST_F(NetworkStoreTest, LimitsChangeInAnyStateAndBumpGeneration) {
  auto vm = store_->create_vm(spec_on_lan("web", "02:f1:0a:00:00:01", "10.1.0.2"));
  ASSERT_TRUE(vm);
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::starting));
  ASSERT_TRUE(store_->set_vm_state(vm->id, VmState::running));
  const NicLimits limits{1250000, 0, 0, 100};
  auto updated = store_->set_nic_limits(vm->id, 0, limits);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->spec.nics[0].limits, limits);
  EXPECT_EQ(updated->generation, vm->generation + 1);
  EXPECT_EQ(updated->spec.nics[0].mac, "02:f1:0a:00:00:01");  // the lease is untouched
  EXPECT_EQ(updated->spec.nics[0].ip, "10.1.0.2");
  auto missing = store_->set_nic_limits(vm->id, 1, limits);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StoreErrc::not_found);
}

}  // namespace
}  // namespace flotilla::storage::test
