#include "storage/model.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <utility>

namespace flotilla::storage {
namespace {

constexpr std::array<VmState, 6> kAllStates{VmState::stopped, VmState::starting, VmState::running,
                                            VmState::paused,  VmState::stopping, VmState::crashed};

TEST(ModelTest, VmStateNamesRoundTrip) {
  for (VmState s : kAllStates) {
    auto back = vm_state_from_string(to_string(s));
    ASSERT_TRUE(back.has_value()) << to_string(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(to_string(VmState::paused), "paused");
  EXPECT_FALSE(vm_state_from_string("Running").has_value());
  EXPECT_FALSE(vm_state_from_string("").has_value());
}

TEST(ModelTest, RoleNamesRoundTrip) {
  EXPECT_EQ(to_string(Role::operator_), "operator");
  for (Role r : {Role::viewer, Role::helpdesk, Role::operator_, Role::admin}) {
    auto back = role_from_string(to_string(r));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(role_from_string("operator_").has_value());
  EXPECT_FALSE(role_from_string("root").has_value());
}

TEST(ModelTest, OperationStateNamesRoundTrip) {
  for (auto s : {OperationState::pending, OperationState::running, OperationState::succeeded,
                 OperationState::failed, OperationState::cancelled}) {
    auto back = operation_state_from_string(to_string(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(to_string(OperationState::succeeded), "succeeded");
  EXPECT_FALSE(operation_state_from_string("done").has_value());
  EXPECT_TRUE(is_terminal(OperationState::failed));
  EXPECT_FALSE(is_terminal(OperationState::running));
}

// The full table, written out, so a change to the lifecycle is a deliberate change here too.
TEST(ModelTest, ValidTransitionsAreExactlyTheLifecycle) {
  using S = VmState;
  const std::set<std::pair<S, S>> allowed{
      {S::stopped, S::starting}, {S::starting, S::running}, {S::starting, S::crashed},
      {S::starting, S::stopped}, {S::running, S::paused},   {S::running, S::stopping},
      {S::running, S::crashed},  {S::running, S::starting}, {S::paused, S::running},
      {S::paused, S::stopping},  {S::paused, S::crashed},   {S::stopping, S::stopped},
      {S::stopping, S::crashed}, {S::crashed, S::starting}, {S::crashed, S::stopped},
  };
  for (S from : kAllStates) {
    for (S to : kAllStates) {
      EXPECT_EQ(valid_transition(from, to), allowed.count({from, to}) == 1)
          << to_string(from) << " -> " << to_string(to);
    }
  }
}

}  // namespace
}  // namespace flotilla::storage
