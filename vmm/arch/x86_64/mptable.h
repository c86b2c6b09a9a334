// Intel MultiProcessor Specification 1.4 table: floating pointer at layout::kMpTable and the
// configuration table right after it, so a guest finds its CPUs (APIC ids 0..n-1), the ISA
// bus, the IOAPIC and how interrupts are wired, and can start the APs with INIT/SIPI.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/kvm/error.h"
#include "vmm/memory/guest_memory_view.h"

namespace flotilla::vmm {

// Pins of the in-kernel IOAPIC (KVM_IOAPIC_NUM_PINS): only GSIs below this can be wired.
constexpr uint32_t kIoapicPins = 24;
constexpr uint8_t kMpApicVersion = 0x14;
constexpr uint8_t kMpIoapicVersion = 0x11;

// The bytes of the floating pointer + configuration table for `vcpus` CPUs, to be placed at
// guest physical `base`. virtio_gsis are the GSIs (>= 16) to describe as edge interrupts.
VmmResult<std::vector<uint8_t>> build_mptable(uint32_t vcpus, uint64_t base,
                                              const std::vector<uint32_t>& virtio_gsis);

VmmResult<void> write_mptable(const GuestMemoryView& memory, uint32_t vcpus,
                              const std::vector<uint32_t>& virtio_gsis);

// The 8-bit sum of bytes (a valid table sums to 0).
uint8_t mp_checksum(const uint8_t* data, size_t len);

}  // namespace flotilla::vmm
