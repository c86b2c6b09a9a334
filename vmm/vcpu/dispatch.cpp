// The exit dispatcher: one switch on kvm_run.exit_reason (kvmtool kvm-cpu.c).
#include <linux/kvm.h>
#include <spdlog/spdlog.h>

#include <span>

#include "vmm/vcpu/vcpu.h"

namespace flotilla::vmm {

bool Vcpu::dispatch() {
  kvm_run* run = fd_.run_struct();
  const uint32_t reason = run->exit_reason;
  wiring_.stats->count(reason);
  exits_.store(exits_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  switch (reason) {
    case KVM_EXIT_IO:
      handle_io();
      return true;
    case KVM_EXIT_MMIO:
      handle_mmio();
      return true;
    case KVM_EXIT_INTR:
      return true;
    case KVM_EXIT_HLT:
      // Not expected with the in-kernel irqchip (HLT is handled in the kernel); keep running.
      if (wiring_.stats->first_unexpected(reason)) spdlog::warn("vcpu{}: HLT exit", id());
      return true;
    case KVM_EXIT_SHUTDOWN:
      report(VcpuEventKind::kReset, "triple fault (KVM_EXIT_SHUTDOWN)");
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      return handle_system_event();
    case KVM_EXIT_FAIL_ENTRY:
      report(VcpuEventKind::kCrash,
             "KVM_EXIT_FAIL_ENTRY reason " +
                 std::to_string(run->fail_entry.hardware_entry_failure_reason));
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      report(VcpuEventKind::kCrash,
             "KVM_EXIT_INTERNAL_ERROR suberror " + std::to_string(run->internal.suberror));
      return false;
    default:
      if (wiring_.stats->first_unexpected(reason)) {
        spdlog::warn("vcpu{}: unexpected exit reason {}", id(), reason);
      }
      report(VcpuEventKind::kCrash, "unexpected KVM exit reason " + std::to_string(reason));
      return false;
  }
}

void Vcpu::handle_io() {
  kvm_run* run = fd_.run_struct();
  const auto& io = run->io;
  const size_t size = io.size;
  if (size != 1 && size != 2 && size != 4) return;
  // SAFETY: data_offset points inside the kvm_run mapping, which KVM sized for count*size bytes.
  uint8_t* data = reinterpret_cast<uint8_t*>(run) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i) {
    std::span<uint8_t> bytes(data + i * size, size);
    if (io.direction == KVM_EXIT_IO_OUT) {
      wiring_.pio->write(io.port, bytes);
    } else {
      wiring_.pio->read(io.port, bytes);
    }
  }
}

void Vcpu::handle_mmio() {
  auto& mmio = fd_.run_struct()->mmio;
  const size_t len = mmio.len <= sizeof(mmio.data) ? mmio.len : 0;
  if (len == 0) return;
  std::span<uint8_t> bytes(mmio.data, len);
  if (mmio.is_write) {
    wiring_.mmio->write(mmio.phys_addr, bytes);
  } else {
    wiring_.mmio->read(mmio.phys_addr, bytes);
  }
}

bool Vcpu::handle_system_event() {
  const auto& ev = fd_.run_struct()->system_event;
  switch (ev.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
      report(VcpuEventKind::kPowerOff, "KVM_SYSTEM_EVENT_SHUTDOWN");
      return false;
    case KVM_SYSTEM_EVENT_RESET:
      report(VcpuEventKind::kReset, "KVM_SYSTEM_EVENT_RESET");
      return false;
    default:
      report(VcpuEventKind::kCrash, "KVM_SYSTEM_EVENT type " + std::to_string(ev.type));
      return false;
  }
}

}  // namespace flotilla::vmm
