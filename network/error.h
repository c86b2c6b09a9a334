// The network module's error type: errors are values at its boundary.
#pragma once

#include <string>

#include "common/result.h"

namespace flotilla::network {

enum class NetErrc {
  kInvalid,   // bad input (CIDR, MAC, name)
  kNotFound,  // no such link
  kExists,    // a link by that name exists and is not what we need
  kBusy,      // in use
  kSystem,    // the kernel refused (errno / netlink error in the message)
};

struct NetError {
  NetErrc code = NetErrc::kSystem;
  std::string message;
};

template <class T>
using NetResult = Result<T, NetError>;

inline Unexpected<NetError> net_error(NetErrc code, std::string message) {
  return fail(NetError{code, std::move(message)});
}

}  // namespace flotilla::network
