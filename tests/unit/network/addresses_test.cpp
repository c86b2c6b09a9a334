// CIDR parsing, range overlap, next free address, MAC parsing and allocation.
#include "network/addresses.h"

#include <gtest/gtest.h>

using namespace flotilla::network;

TEST(Cidr, ParsesAndDescribesRanges) {
  auto r = parse_cidr("10.20.0.1/24");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->network(), 0x0a140000u);
  EXPECT_EQ(r->broadcast(), 0x0a1400ffu);
  EXPECT_TRUE(r->contains(0x0a140042u));
  EXPECT_FALSE(r->contains(0x0a150001u));
  EXPECT_EQ(r->to_string(), "10.20.0.1/24");
}

TEST(Cidr, RefusesMalformedRanges) {
  for (const char* bad : {"", "10.0.0.1", "10.0.0/24", "10.0.0.256/24", "10.0.0.1/33",
                          "10.0.0.1/31", "10.0.0.1/4", "010.0.0.1/24", "10.0.0.1/-1",
                          "10.0.0.1/24x", "1.2.3.4.5/24", " 10.0.0.1/24", "a.b.c.d/8"}) {
    auto r = parse_cidr(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, NetErrc::kInvalid);
      EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
  }
}

TEST(Cidr, Overlap) {
  auto a = *parse_cidr("10.0.0.0/16");
  EXPECT_TRUE(ranges_overlap(a, *parse_cidr("10.0.5.0/24")));
  EXPECT_TRUE(ranges_overlap(*parse_cidr("10.0.5.0/24"), a));
  EXPECT_FALSE(ranges_overlap(a, *parse_cidr("10.1.0.0/24")));
  EXPECT_FALSE(ranges_overlap(*parse_cidr("192.168.1.0/25"), *parse_cidr("192.168.1.128/25")));
}

TEST(Cidr, NextFreeAddressSkipsNetworkBroadcastReservedAndTaken) {
  auto range = *parse_cidr("192.168.7.1/29");  // .0 network, .7 broadcast
  const uint32_t base = 0xc0a80700;
  std::set<uint32_t> taken;
  std::vector<uint32_t> got;
  while (auto ip = next_free_address(range, taken, base + 1)) {
    got.push_back(*ip);
    taken.insert(*ip);
  }
  EXPECT_EQ(got, (std::vector<uint32_t>{base + 2, base + 3, base + 4, base + 5, base + 6}));
  taken.erase(base + 4);
  EXPECT_EQ(next_free_address(range, taken, base + 1), base + 4);
}

TEST(Mac, ParsesUnicastAndRefusesMulticastAndZero) {
  auto m = parse_unicast_mac("02:F1:0a:00:00:01");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->to_string(), "02:f1:0a:00:00:01");
  EXPECT_TRUE(m->locally_administered());
  EXPECT_FALSE(parse_unicast_mac("01:00:5e:00:00:01").ok());  // multicast
  EXPECT_FALSE(parse_unicast_mac("ff:ff:ff:ff:ff:ff").ok());  // broadcast
  EXPECT_FALSE(parse_unicast_mac("00:00:00:00:00:00").ok());
  EXPECT_FALSE(parse_unicast_mac("02:f1:0a:00:00").ok());
  EXPECT_FALSE(parse_unicast_mac("02-f1-0a-00-00-01").ok());
  EXPECT_FALSE(parse_unicast_mac("02:f1:0a:00:00:0g").ok());
}

TEST(Mac, AllocatesUniqueLocallyAdministeredUnicastWithOurPrefix) {
  std::mt19937_64 rng(42);
  std::set<MacAddress> taken;
  for (int i = 0; i < 5000; ++i) {
    auto mac = allocate_mac(taken, rng);
    ASSERT_TRUE(mac.has_value());
    EXPECT_FALSE(mac->multicast());
    EXPECT_TRUE(mac->locally_administered());
    EXPECT_EQ(mac->bytes[0], kMacPrefix[0]);
    EXPECT_EQ(mac->bytes[2], kMacPrefix[2]);
    EXPECT_TRUE(taken.insert(*mac).second);
  }
}
