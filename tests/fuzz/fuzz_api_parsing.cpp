// libFuzzer target: the API's pure request parsing and validation (api/request_parsing.h).
// The first input byte picks the parser, the rest is its input. Accepted values must satisfy
// the contract's limits; rejections must be 4xx with a message; nothing may crash or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/request_parsing.h"
#include "spec_invariants.h"

namespace {

using namespace flotilla;

storage::VmSpec base_spec() {
  storage::VmSpec s;
  s.name = "base";
  s.boot.kernel = "/boot/vmlinux";
  s.disks = {{"/d0.img", false}};
  s.nics = {{"default", ""}};
  return s;
}

void vm_create(std::string_view in) {
  auto r = api::parse_vm_create(in);
  if (r) {
    fuzz::check_spec(*r);
    // Validation is a function of the input alone.
    auto again = api::parse_vm_create(in);
    FLOTILLA_FUZZ_CHECK(again.ok() && again->name == r->name && again->vcpus == r->vcpus);
  } else {
    fuzz::check_rejection(r.error());
  }
}

void vm_patch(std::string_view in) {
  static const storage::VmSpec kBase = base_spec();
  auto r = api::apply_vm_patch(kBase, in);
  if (r) {
    fuzz::check_spec(*r);
  } else {
    fuzz::check_rejection(r.error());
  }
}

void token_create(std::string_view in) {
  auto r = api::parse_token_create(in);
  if (r) {
    FLOTILLA_FUZZ_CHECK(fuzz::valid_name_reference(r->name));
    if (r->expires_in_seconds) {
      FLOTILLA_FUZZ_CHECK(*r->expires_in_seconds > 0 &&
                          *r->expires_in_seconds <= api::kMaxTokenLifetimeSeconds);
    }
  } else {
    fuzz::check_rejection(r.error());
  }
}

void json_body(std::string_view in) {
  auto r = api::parse_json_body(in);
  if (!r) fuzz::check_rejection(r.error());
}

// Networks and NICs: what parses is within the documented limits.
void networks_and_nics(std::string_view in) {
  if (auto n = api::parse_network_create(in); n) {
    FLOTILLA_FUZZ_CHECK(fuzz::valid_name_reference(n->name));
    FLOTILLA_FUZZ_CHECK(n->cidr.size() <= 18 && n->bridge.size() <= 15);
  } else {
    fuzz::check_rejection(n.error());
  }
  if (auto nic = api::parse_nic_attach(in); nic) {
    FLOTILLA_FUZZ_CHECK(nic->mac.empty() || nic->mac.size() == 17);
    FLOTILLA_FUZZ_CHECK(nic->ip.size() <= 15);
    FLOTILLA_FUZZ_CHECK(nic->limits.rx_bytes_per_sec <= api::kMaxNicRate &&
                        nic->limits.tx_packets_per_sec <= api::kMaxNicRate);
  } else {
    fuzz::check_rejection(nic.error());
  }
  if (auto l = api::parse_nic_patch({}, in); !l) fuzz::check_rejection(l.error());
}

void headers_and_names(std::string_view in) {
  auto r = api::parse_if_match(in);
  if (!r) fuzz::check_rejection(r.error());
  (void)api::is_json_content_type(in);
  FLOTILLA_FUZZ_CHECK(api::is_valid_name(in) == fuzz::valid_name_reference(std::string(in)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 6) {
    case 0:
      vm_create(in);
      break;
    case 1:
      vm_patch(in);
      break;
    case 2:
      token_create(in);
      break;
    case 3:
      json_body(in);
      break;
    case 4:
      networks_and_nics(in);
      break;
    default:
      headers_and_names(in);
      break;
  }
  return 0;
}
