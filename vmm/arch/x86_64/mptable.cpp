#include "vmm/arch/x86_64/mptable.h"

#include <cstring>

#include "vmm/memory/layout.h"

namespace flotilla::vmm {
namespace {

// Entry layouts from the MP specification 1.4, chapter 4 (no system header defines them).
#pragma pack(push, 1)
struct MpFloatingPointer {
  char signature[4];  // "_MP_"
  uint32_t physptr;
  uint8_t length;  // in 16-byte units
  uint8_t spec_rev;
  uint8_t checksum;
  uint8_t feature[5];
};
struct MpConfigHeader {
  char signature[4];  // "PCMP"
  uint16_t length;
  uint8_t spec_rev;
  uint8_t checksum;
  char oem[8];
  char product[12];
  uint32_t oem_ptr;
  uint16_t oem_size;
  uint16_t entry_count;
  uint32_t lapic;
  uint16_t ext_length;
  uint8_t ext_checksum;
  uint8_t reserved;
};
struct MpProcessor {
  uint8_t type;  // 0
  uint8_t apic_id;
  uint8_t apic_version;
  uint8_t flags;  // bit 0 enabled, bit 1 bootstrap processor
  uint32_t signature;
  uint32_t features;
  uint32_t reserved[2];
};
struct MpBus {
  uint8_t type;  // 1
  uint8_t bus_id;
  char bus_type[6];
};
struct MpIoapic {
  uint8_t type;  // 2
  uint8_t id;
  uint8_t version;
  uint8_t flags;  // bit 0 enabled
  uint32_t address;
};
struct MpInterrupt {
  uint8_t type;      // 3 I/O interrupt, 4 local interrupt
  uint8_t irq_type;  // 0 INT, 1 NMI, 3 ExtINT
  uint16_t flags;    // polarity bits 0-1, trigger bits 2-3 (0 = conforms to the bus)
  uint8_t src_bus;
  uint8_t src_irq;
  uint8_t dst_id;  // IOAPIC id, or local APIC id (0xff = all)
  uint8_t dst_pin;
};
#pragma pack(pop)
static_assert(sizeof(MpFloatingPointer) == 16 && sizeof(MpConfigHeader) == 44);
static_assert(sizeof(MpProcessor) == 20 && sizeof(MpBus) == 8 && sizeof(MpIoapic) == 8 &&
              sizeof(MpInterrupt) == 8);

constexpr uint8_t kIrqInt = 0, kIrqNmi = 1, kIrqExtInt = 3;
constexpr uint16_t kEdgeHigh = 0x5;                       // active high (01), edge (01 << 2)
constexpr uint32_t kCpuSignature = 0x600 | (1 << 4) | 3;  // family 6, model 1, stepping 3
constexpr uint32_t kCpuFeatures = (1 << 0) | (1 << 9);    // FPU, APIC

template <class T>
void append(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void append_entries(std::vector<uint8_t>& out, uint32_t vcpus, uint8_t ioapic_id,
                    const std::vector<uint32_t>& virtio_gsis, uint16_t& count) {
  for (uint32_t i = 0; i < vcpus; ++i, ++count) {
    const uint8_t flags = static_cast<uint8_t>(1 | (i == 0 ? 2 : 0));
    append(out, MpProcessor{0,
                            static_cast<uint8_t>(i),
                            kMpApicVersion,
                            flags,
                            kCpuSignature,
                            kCpuFeatures,
                            {0, 0}});
  }
  append(out, MpBus{1, 0, {'I', 'S', 'A', ' ', ' ', ' '}});
  append(out, MpIoapic{2, ioapic_id, kMpIoapicVersion, 1, static_cast<uint32_t>(layout::kIoapic)});
  count += 2;
  for (uint8_t irq = 0; irq < 16; ++irq, ++count) {
    append(out, MpInterrupt{3, kIrqInt, 0, 0, irq, ioapic_id, irq});
  }
  for (uint32_t gsi : virtio_gsis) {
    if (gsi < 16 || gsi >= kIoapicPins) continue;  // no such IOAPIC pin in KVM
    const auto pin = static_cast<uint8_t>(gsi);
    append(out, MpInterrupt{3, kIrqInt, kEdgeHigh, 0, pin, ioapic_id, pin});
    ++count;
  }
  append(out, MpInterrupt{4, kIrqExtInt, 0, 0, 0, 0xff, 0});
  append(out, MpInterrupt{4, kIrqNmi, 0, 0, 0, 0xff, 1});
  count += 2;
}

}  // namespace

uint8_t mp_checksum(const uint8_t* data, size_t len) {
  uint8_t sum = 0;
  for (size_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return sum;
}

VmmResult<std::vector<uint8_t>> build_mptable(uint32_t vcpus, uint64_t base,
                                              const std::vector<uint32_t>& virtio_gsis) {
  if (vcpus == 0 || vcpus > 254) {
    return vmm_fail(VmmErrc::kConfig, "an MP table describes 1 to 254 CPUs");
  }
  std::vector<uint8_t> body;
  uint16_t count = 0;
  append_entries(body, vcpus, static_cast<uint8_t>(vcpus), virtio_gsis, count);

  MpConfigHeader hdr{};
  std::memcpy(hdr.signature, "PCMP", 4);
  hdr.length = static_cast<uint16_t>(sizeof(hdr) + body.size());
  hdr.spec_rev = 4;
  std::memcpy(hdr.oem, "FLOTILLA", 8);
  std::memcpy(hdr.product, "FLOTILLAVMM ", 12);
  hdr.entry_count = count;
  hdr.lapic = static_cast<uint32_t>(layout::kLapic);

  MpFloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.physptr = static_cast<uint32_t>(base + sizeof(fp));
  fp.length = 1;
  fp.spec_rev = 4;
  fp.checksum =
      static_cast<uint8_t>(-mp_checksum(reinterpret_cast<const uint8_t*>(&fp), sizeof(fp)));

  std::vector<uint8_t> out;
  append(out, fp);
  const size_t hdr_at = out.size();
  append(out, hdr);
  out.insert(out.end(), body.begin(), body.end());
  out[hdr_at + offsetof(MpConfigHeader, checksum)] =
      static_cast<uint8_t>(-mp_checksum(out.data() + hdr_at, out.size() - hdr_at));
  return out;
}

VmmResult<void> write_mptable(const GuestMemoryView& memory, uint32_t vcpus,
                              const std::vector<uint32_t>& virtio_gsis) {
  auto bytes = build_mptable(vcpus, layout::kMpTable, virtio_gsis);
  if (!bytes) return fail(bytes.error());
  if (layout::kMpTable + bytes->size() > layout::kEbdaEnd ||
      !memory.write(layout::kMpTable, bytes->data(), bytes->size())) {
    return vmm_fail(VmmErrc::kMemory, "MP table does not fit below 1 MiB");
  }
  return {};
}

}  // namespace flotilla::vmm
