#include "vmm/monitor/machine.h"

#include <spdlog/spdlog.h>

#include <future>

#include "vmm/arch/x86_64/mptable.h"
#include "vmm/arch/x86_64/start_info.h"
#include "vmm/arch/x86_64/vcpu_setup.h"
#include "vmm/monitor/machine_devices.h"

namespace flotilla::vmm {

Machine::Machine(const VmConfig& config, Console& console, EventLoop& loop, VmFd vm,
                 GuestMemory memory)
    : config_(config),
      console_(console),
      loop_(loop),
      memory_(std::move(memory)),
      vm_(std::move(vm)) {}

VmmResult<std::unique_ptr<Machine>> Machine::create(const Kvm& kvm, const VmConfig& config,
                                                    const std::vector<uint8_t>& kernel,
                                                    Console& console, EventLoop& loop) {
  auto vm = kvm.create_vm();
  if (!vm) return fail(vm.error());
  auto memory = GuestMemory::create(config.memory_mib * layout::kMiB);
  if (!memory) return fail(memory.error());
  if (config.lock_memory) {
    if (auto r = memory->lock(); !r) return fail(r.error());
  }
  std::unique_ptr<Machine> m(
      new Machine(config, console, loop, std::move(*vm), std::move(*memory)));
  // From here on ~Machine unwinds whatever step failed.
  if (auto r = m->setup_vm(); !r) return fail(r.error());
  if (auto r = m->load_kernel(kernel); !r) return fail(r.error());
  if (auto r = m->create_devices(); !r) return fail(r.error());
  if (auto r = m->create_vcpus(kvm); !r) return fail(r.error());
  return m;
}

VmmResult<void> Machine::setup_vm() {
  // Memslots BEFORE the irqchip: on PVM a memslot added after KVM_CREATE_IRQCHIP costs ~7 ms.
  if (auto r = memory_.register_slots(vm_); !r) return r;
  if (auto r = vm_.set_tss_addr(layout::kTss); !r) return r;
  if (auto r = vm_.set_identity_map_addr(layout::kIdentityMap); !r) return r;
  if (auto r = vm_.create_irqchip(); !r) return r;
  return vm_.create_pit2();
}

VmmResult<void> Machine::load_kernel(const std::vector<uint8_t>& kernel) {
  auto image = parse_pvh_elf(kernel, memory_.layout());
  if (!image) return fail(image.error());
  const GuestMemoryView view = memory_.view();
  if (auto r = load_pvh_elf(kernel, *image, view); !r) return r;
  auto info = write_start_info(view, memory_.layout(), config_.cmdline);
  if (!info) return fail(info.error());
  std::vector<uint32_t> virtio_gsis;
  if (config_.rng) virtio_gsis.push_back(layout::kVirtioFirstGsi);
  if (auto r = write_mptable(view, config_.vcpus, virtio_gsis); !r) return r;
  entry_ = image->entry;
  start_info_ = *info;
  return {};
}

VmmResult<void> Machine::create_vcpus(const Kvm& kvm) {
  auto supported = kvm.supported_cpuid();
  if (!supported) return fail(supported.error());
  for (uint32_t i = 0; i < config_.vcpus; ++i) {
    auto fd = vm_.create_vcpu(i);
    if (!fd) return fail(fd.error());
    if (auto r = setup_vcpu(*fd, *supported, config_.vcpus, entry_, start_info_); !r) {
      return vmm_fail(r.error().code, "vcpu" + std::to_string(i) + ": " + r.error().message);
    }
    VcpuWiring wiring{&devices_->pio, &devices_->mmio, &exit_stats_,
                      [this](const VcpuEvent& ev) { on_vcpu_event(ev); }};
    vcpus_.push_back(std::make_unique<Vcpu>(std::move(*fd), std::move(wiring)));
  }
  return {};
}

void Machine::start() {
  for (auto& v : vcpus_) v->start();
}

void Machine::on_vcpu_event(const VcpuEvent& ev) {
  MachineEnd end;
  switch (ev.kind) {
    case VcpuEventKind::kReset:
      end.kind = MachineEnd::Kind::kReset;
      break;
    case VcpuEventKind::kPowerOff:
      end.kind = MachineEnd::Kind::kPowerOff;
      break;
    case VcpuEventKind::kCrash:
      end.kind = MachineEnd::Kind::kCrash;
      end.exit_code = 1;
      break;
  }
  end.detail = "vcpu" + std::to_string(ev.vcpu) + ": " + ev.detail;
  request_end(std::move(end));
}

void Machine::request_end(MachineEnd end) {
  std::lock_guard lock(mu_);
  if (end_) return;
  end_ = std::move(end);
  cv_.notify_all();
}

MachineEnd Machine::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return end_.has_value(); });
  return *end_;
}

bool Machine::pause(Clock::time_point deadline) {
  bool ok = true;
  for (auto& v : vcpus_) ok = v->pause(deadline) && ok;
  std::lock_guard lock(mu_);
  paused_ = true;
  return ok;
}

bool Machine::resume(Clock::time_point deadline) {
  bool ok = true;
  for (auto& v : vcpus_) ok = v->resume(deadline) && ok;
  std::lock_guard lock(mu_);
  paused_ = false;
  return ok;
}

bool Machine::paused() const {
  std::lock_guard lock(mu_);
  return paused_;
}

std::vector<VcpuState> Machine::vcpu_states() const {
  std::vector<VcpuState> out;
  for (const auto& v : vcpus_) out.push_back(v->state());
  return out;
}

std::vector<uint64_t> Machine::vcpu_exits() const {
  std::vector<uint64_t> out;
  for (const auto& v : vcpus_) out.push_back(v->exits());
  return out;
}

void Machine::stop_vcpus() {
  for (auto& v : vcpus_) v->request_stop();
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  for (auto& v : vcpus_) {
    if (!v->join(deadline)) spdlog::error("vcpu{} did not stop in time", v->id());
  }
  vcpus_.clear();
}

Machine::~Machine() {
  stop_vcpus();
  console_.set_input_sink(nullptr);
  if (devices_) {
    // The virtio transports must die on the device thread (or once it stopped).
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    loop_.post([devices = std::shared_ptr<MachineDevices>(std::move(devices_)), done]() mutable {
      devices.reset();
      done->set_value();
    });
    if (finished.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      spdlog::error("device thread did not release the devices in time");
    }
  }
  // vm_ and memory_ close after this body, VM first (members in reverse order).
}

}  // namespace flotilla::vmm
