#include "vmm/arch/x86_64/vcpu_setup.h"

#include <cstring>

#include "vmm/arch/x86_64/cpuid.h"

namespace flotilla::vmm {
namespace {

constexpr uint64_t kCr0Pe = 1, kCr0Et = 1 << 4;
constexpr uint32_t kLapicLvt0 = 0x350, kLapicLvt1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7, kDeliveryNmi = 4;

kvm_segment flat_segment(uint16_t selector, uint8_t type) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = 1;
  s.s = 1;
  s.l = 0;
  s.g = 1;
  return s;
}

uint32_t lapic_reg(const kvm_lapic_state& l, uint32_t off) {
  uint32_t v;
  std::memcpy(&v, l.regs + off, 4);
  return v;
}

void set_lapic_reg(kvm_lapic_state& l, uint32_t off, uint32_t v) {
  std::memcpy(l.regs + off, &v, 4);
}

uint32_t with_delivery(uint32_t lvt, uint32_t mode) {
  return (lvt & ~0x700u) | (mode << 8);
}

VmmResult<void> setup_lints(VcpuFd& vcpu) {
  auto lapic = vcpu.get_lapic();
  if (!lapic) return fail(lapic.error());
  set_lapic_reg(*lapic, kLapicLvt0, with_delivery(lapic_reg(*lapic, kLapicLvt0), kDeliveryExtInt));
  set_lapic_reg(*lapic, kLapicLvt1, with_delivery(lapic_reg(*lapic, kLapicLvt1), kDeliveryNmi));
  return vcpu.set_lapic(*lapic);
}

VmmResult<void> setup_bsp(VcpuFd& vcpu, uint32_t entry, uint64_t start_info) {
  auto sregs = vcpu.get_sregs();
  if (!sregs) return fail(sregs.error());
  pvh_sregs(*sregs);
  if (auto r = vcpu.set_sregs(*sregs); !r) return r;
  kvm_regs regs{};
  regs.rip = entry;
  regs.rbx = start_info;
  regs.rflags = 2;
  if (auto r = vcpu.set_regs(regs); !r) return r;
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (auto r = vcpu.set_fpu(fpu); !r) return r;
  return setup_lints(vcpu);
}

}  // namespace

std::vector<MsrValue> initial_msrs() {
  return {
      {kMsrMiscEnable, kMiscEnableFastStrings},
      {kMsrPat, kPatDefault},
      {0x174, 0},       // IA32_SYSENTER_CS
      {0x175, 0},       // IA32_SYSENTER_ESP
      {0x176, 0},       // IA32_SYSENTER_EIP
      {0xc0000081, 0},  // STAR
      {0xc0000082, 0},  // LSTAR
      {0xc0000083, 0},  // CSTAR
      {0xc0000084, 0},  // SYSCALL_MASK
      {0xc0000102, 0},  // KERNEL_GS_BASE
  };
}

void pvh_sregs(kvm_sregs& sregs) {
  sregs.cs = flat_segment(0x10, 0xb);                // execute/read, accessed
  const kvm_segment data = flat_segment(0x18, 0x3);  // read/write, accessed
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = kvm_segment{};
  sregs.tr.selector = 0x20;
  sregs.tr.limit = 0x67;
  sregs.tr.type = 0xb;  // busy 32-bit TSS
  sregs.tr.present = 1;
  sregs.ldt = kvm_segment{};
  sregs.ldt.limit = 0xffff;
  sregs.ldt.type = 0x2;
  sregs.ldt.present = 1;
  sregs.gdt = kvm_dtable{};
  sregs.idt = kvm_dtable{};
  sregs.cr0 = kCr0Pe | kCr0Et;
  sregs.cr3 = 0;
  sregs.cr4 = 0;
  sregs.efer = 0;
}

VmmResult<void> setup_vcpu(VcpuFd& vcpu, const std::vector<kvm_cpuid_entry2>& supported,
                           uint32_t vcpus, uint32_t entry, uint64_t start_info) {
  const auto cpuid = cpuid_for_vcpu(supported, vcpu.id(), vcpus);
  if (auto r = vcpu.set_cpuid(cpuid); !r) return r;
  const auto msrs = initial_msrs();
  if (auto r = vcpu.set_msrs(msrs); !r) return r;
  if (vcpu.id() != 0) return {};
  return setup_bsp(vcpu, entry, start_info);
}

}  // namespace flotilla::vmm
