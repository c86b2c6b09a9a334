// Internal to network/: choosing and checking the MAC and IPv4 address of each NIC of a VM spec
// against everything the state store already holds (NetworkManager::assign_addresses).
#pragma once

#include "network/networks.h"

namespace flotilla::network {

NetworkResult<void> assign_nic_addresses(storage::StateStore& store, storage::VmSpec& spec,
                                         const storage::VmRecord* current);

}  // namespace flotilla::network
