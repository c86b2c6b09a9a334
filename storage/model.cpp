#include "storage/model.h"

#include <array>
#include <utility>

namespace flotilla::storage {
namespace {

template <class E, size_t N>
using NameTable = std::array<std::pair<E, std::string_view>, N>;

constexpr NameTable<VmState, 6> kVmStateNames{{
    {VmState::stopped, "stopped"},
    {VmState::starting, "starting"},
    {VmState::running, "running"},
    {VmState::paused, "paused"},
    {VmState::stopping, "stopping"},
    {VmState::crashed, "crashed"},
}};

constexpr NameTable<Role, 4> kRoleNames{{
    {Role::viewer, "viewer"},
    {Role::helpdesk, "helpdesk"},
    {Role::operator_, "operator"},
    {Role::admin, "admin"},
}};

constexpr NameTable<OperationState, 5> kOperationStateNames{{
    {OperationState::pending, "pending"},
    {OperationState::running, "running"},
    {OperationState::succeeded, "succeeded"},
    {OperationState::failed, "failed"},
    {OperationState::cancelled, "cancelled"},
}};

constexpr NameTable<PoolType, 2> kPoolTypeNames{{
    {PoolType::dir, "dir"},
    {PoolType::partitioned, "partitioned"},
}};
constexpr NameTable<NetworkMode, 2> kNetworkModeNames{{
    {NetworkMode::isolated, "isolated"},
    {NetworkMode::uplink, "uplink"},
}};

template <class E, size_t N>
std::string_view name_of(const NameTable<E, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";  // only reachable with a value cast from outside the enum
}

template <class E, size_t N>
std::optional<E> value_of(const NameTable<E, N>& table, std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(VmState s) {
  return name_of(kVmStateNames, s);
}
std::optional<VmState> vm_state_from_string(std::string_view s) {
  return value_of(kVmStateNames, s);
}

std::string_view to_string(PoolType t) {
  return name_of(kPoolTypeNames, t);
}
std::optional<PoolType> pool_type_from_string(std::string_view s) {
  return value_of(kPoolTypeNames, s);
}

std::string_view to_string(NetworkMode m) {
  return name_of(kNetworkModeNames, m);
}
std::optional<NetworkMode> network_mode_from_string(std::string_view s) {
  return value_of(kNetworkModeNames, s);
}

std::string_view to_string(Role r) {
  return name_of(kRoleNames, r);
}
std::optional<Role> role_from_string(std::string_view s) {
  return value_of(kRoleNames, s);
}

std::string_view to_string(OperationState s) {
  return name_of(kOperationStateNames, s);
}
std::optional<OperationState> operation_state_from_string(std::string_view s) {
  return value_of(kOperationStateNames, s);
}

bool is_terminal(OperationState s) {
  return s == OperationState::succeeded || s == OperationState::failed ||
         s == OperationState::cancelled;
}

// The one lifecycle rule (Cloud Hypervisor's VmState::valid_transition). Staying in the same
// state is not a transition.
bool valid_transition(VmState from, VmState to) {
  using S = VmState;
  switch (from) {
    case S::stopped:
      return to == S::starting;
    case S::starting:
      return to == S::running || to == S::crashed || to == S::stopped;
    case S::running:
      return to == S::paused || to == S::stopping || to == S::crashed || to == S::starting;
    case S::paused:
      return to == S::running || to == S::stopping || to == S::crashed;
    case S::stopping:
      return to == S::stopped || to == S::crashed;
    case S::crashed:
      return to == S::starting || to == S::stopped;
  }
  return false;
}

}  // namespace flotilla::storage
