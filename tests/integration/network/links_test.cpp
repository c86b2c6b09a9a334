// Links over rtnetlink against the real kernel: the process first moves into a fresh network
// namespace (unshare), so every bridge and TAP it makes vanishes with it and no packet leaves.
#include "network/links.h"
#include "tests/support/netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace flotilla::network;
namespace fs = std::filesystem;

namespace {

// Runs before main, while the process has one thread: a new network namespace, and a new mount
// namespace with sysfs mounted again so /sys/class/net shows this namespace's links (the
// independent view the tests check against).
const int kUnshareErrno = flotilla::test::enter_netns_with_sysfs();

std::string sys(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  std::getline(in, value);
  return value;
}

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kUnshareErrno, 0)
        << "entering fresh network and mount namespaces failed (needs root): "
        << std::strerror(kUnshareErrno);
    auto links = Links::open();
    ASSERT_TRUE(links.ok()) << links.error().message;
    links_.emplace(std::move(*links));
  }
  std::optional<Links> links_;
};

TEST_F(LinksTest, BridgeIsCreatedThenAdoptedWithItsAddress) {
  auto cidr = parse_cidr("10.77.0.1/24");
  auto bridge = links_->ensure_bridge("fltbr0", *cidr);
  ASSERT_TRUE(bridge.ok()) << bridge.error().message;
  EXPECT_TRUE(bridge->bridge);
  EXPECT_TRUE(bridge->up);
  EXPECT_TRUE(fs::exists("/sys/class/net/fltbr0/bridge"));
  auto again = links_->ensure_bridge("fltbr0", *cidr);  // adopt: same link, no error
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->index, bridge->index);
  ASSERT_TRUE(links_->remove("fltbr0").ok());
  EXPECT_FALSE(fs::exists("/sys/class/net/fltbr0"));
  EXPECT_TRUE(links_->remove("fltbr0").ok());  // already gone
}

TEST_F(LinksTest, TapIsPersistentEnslavedOpenedAndRemoved) {
  ASSERT_TRUE(links_->ensure_bridge("fltbr1", std::nullopt).ok());
  ASSERT_TRUE(create_persistent_tap("flt-test-0").ok());
  EXPECT_TRUE(fs::exists("/sys/class/net/flt-test-0"));  // outlived its creating fd
  EXPECT_EQ(sys("/sys/class/net/flt-test-0/tx_queue_len"), std::to_string(kTapQueueLength));
  auto enslaved = links_->enslave("flt-test-0", "fltbr1");
  ASSERT_TRUE(enslaved.ok()) << enslaved.error().message;
  EXPECT_EQ(fs::read_symlink("/sys/class/net/flt-test-0/master").filename(), "fltbr1");
  auto fd = open_tap("flt-test-0");
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  EXPECT_EQ(sys("/sys/class/net/flt-test-0/tun_flags").empty(), false);
  auto counters = links_->counters("flt-test-0");
  ASSERT_TRUE(counters.ok());
  ASSERT_TRUE(links_->remove("flt-test-0").ok());
  EXPECT_FALSE(fs::exists("/sys/class/net/flt-test-0"));
  ASSERT_TRUE(links_->remove("fltbr1").ok());
}

TEST_F(LinksTest, NonBridgeWithTheNameIsNotAdopted) {
  ASSERT_TRUE(create_persistent_tap("flt-clash").ok());
  auto bridge = links_->ensure_bridge("flt-clash", std::nullopt);
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().code, NetErrc::kExists);
  ASSERT_TRUE(links_->remove("flt-clash").ok());
}

TEST_F(LinksTest, BadNamesAndMissingLinksAreClearErrors) {
  EXPECT_EQ(links_->ensure_bridge("this-name-is-too-long", std::nullopt).error().code,
            NetErrc::kInvalid);
  EXPECT_EQ(links_->ensure_bridge("bad/name", std::nullopt).error().code, NetErrc::kInvalid);
  EXPECT_EQ(create_persistent_tap("").error().code, NetErrc::kInvalid);
  EXPECT_EQ(links_->enslave("nope0", "nope1").error().code, NetErrc::kNotFound);
  auto found = links_->find("nope0");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST_F(LinksTest, ListShowsWhatWeMade) {
  ASSERT_TRUE(links_->ensure_bridge("fltbr2", std::nullopt).ok());
  auto all = links_->list();
  ASSERT_TRUE(all.ok());
  bool seen = false;
  for (const auto& l : *all) seen |= l.name == "fltbr2" && l.bridge;
  EXPECT_TRUE(seen);
  ASSERT_TRUE(links_->remove("fltbr2").ok());
}

TEST_F(LinksTest, StaleTapsAreRemovedAndOthersKept) {
  const std::string live = tap_name("0123abcd-aaaa-bbbb-cccc-000000000000", 0);
  const std::string stale = tap_name("fedc9876-aaaa-bbbb-cccc-000000000000", 1);
  EXPECT_EQ(live, "flt-0123abcd-0");
  EXPECT_LE(stale.size(), 15u);
  ASSERT_TRUE(create_persistent_tap(live).ok());
  ASSERT_TRUE(create_persistent_tap(stale).ok());
  ASSERT_TRUE(links_->ensure_bridge("fltbr3", std::nullopt).ok());  // not a TAP of ours
  auto removed = remove_stale_taps(*links_, {live});
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, std::vector<std::string>{stale});
  EXPECT_TRUE(fs::exists("/sys/class/net/" + live));
  EXPECT_FALSE(fs::exists("/sys/class/net/" + stale));
  EXPECT_TRUE(fs::exists("/sys/class/net/fltbr3"));
  ASSERT_TRUE(links_->remove(live).ok());
  ASSERT_TRUE(links_->remove("fltbr3").ok());
}

}  // namespace
