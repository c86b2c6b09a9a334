#include "vmm/monitor/console.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "vmm/vcpu/exit_stats.h"

namespace flotilla::vmm {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Console, TailKeepsTheLast64KiB) {
  Console c(-1, UniqueFd());
  c.output(bytes("hello "));
  c.output(bytes("world"));
  EXPECT_EQ(c.tail(5), "world");
  EXPECT_EQ(c.tail(1000), "hello world");
  std::string big(Console::kRingSize + 10, 'x');
  big.back() = 'y';
  c.output(bytes(big));
  EXPECT_EQ(c.tail(1 << 20).size(), Console::kRingSize);
  EXPECT_EQ(c.tail(1), "y");
  EXPECT_EQ(c.total_output(), 11 + big.size());
}

TEST(Console, InputGoesToTheSinkAndSubscribersGetOutput) {
  Console c(-1, UniqueFd());
  std::string got;
  c.input(bytes("dropped"));  // no machine attached
  c.set_input_sink([&got](std::span<const uint8_t> b) {
    got.append(b.begin(), b.end());
    return b.size();
  });
  c.input(bytes("abc"));
  EXPECT_EQ(got, "abc");
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  const uint64_t id = c.subscribe(a.get());
  c.output(bytes("to-client"));
  char buf[64] = {};
  ASSERT_EQ(::recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), 9);
  EXPECT_EQ(std::string(buf, 9), "to-client");
  c.unsubscribe(id);
  c.output(bytes("not-sent"));
  EXPECT_LT(::recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), 0);
}

TEST(ExitStats, CountsByNameAndFlagsUnexpectedOnce) {
  ExitStats s;
  s.count(2);  // KVM_EXIT_IO
  s.count(2);
  s.count(6);  // KVM_EXIT_MMIO
  s.count(1000);
  const auto snap = s.snapshot();
  EXPECT_EQ(snap.at("io"), 2u);
  EXPECT_EQ(snap.at("mmio"), 1u);
  EXPECT_EQ(s.total(), 4u);
  EXPECT_TRUE(s.first_unexpected(5));
  EXPECT_FALSE(s.first_unexpected(5));
}

}  // namespace
}  // namespace flotilla::vmm
