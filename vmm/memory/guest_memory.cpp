#include "vmm/memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace flotilla::vmm {

namespace {

constexpr uint64_t kHugePage = 2ull << 20;

// ram_bytes of private anonymous memory starting on a 2 MiB boundary (so every huge page of
// guest-physical RAM can be a host huge page), with THP asked for.
void* map_anonymous(uint64_t ram_bytes) {
  const uint64_t span = ram_bytes + kHugePage;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return MAP_FAILED;
  const auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  // SAFETY: both trimmed pieces lie inside the mapping made above (page-aligned lengths).
  if (aligned > start) ::munmap(p, aligned - start);
  const uintptr_t end = aligned + ram_bytes;
  if (start + span > end) ::munmap(reinterpret_cast<void*>(end), start + span - end);
  void* base = reinterpret_cast<void*>(aligned);
  // A hint: without THP (`never`) the memory is simply 4 KiB pages.
  (void)::madvise(base, ram_bytes, MADV_HUGEPAGE);
  return base;
}

}  // namespace

VmmResult<GuestMemory> GuestMemory::create(uint64_t ram_bytes, RamBacking backing) {
  auto layout = compute_layout(ram_bytes);
  if (!layout) return fail(layout.error());
  GuestMemory mem;
  mem.layout_ = std::move(*layout);
  if (backing == RamBacking::kAnonymous) {
    void* p = map_anonymous(ram_bytes);
    if (p == MAP_FAILED) return vmm_errno(VmmErrc::kMemory, "mmap guest memory");
    mem.base_ = static_cast<uint8_t*>(p);
    return mem;
  }
  mem.memfd_.reset(::memfd_create("flotilla-guest-ram", MFD_CLOEXEC));
  if (!mem.memfd_) return vmm_errno(VmmErrc::kMemory, "memfd_create");
  if (::ftruncate(mem.memfd_.get(), static_cast<off_t>(ram_bytes)) < 0) {
    return vmm_errno(VmmErrc::kMemory, "ftruncate guest memory");
  }
  void* p = ::mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   mem.memfd_.get(), 0);
  if (p == MAP_FAILED) return vmm_errno(VmmErrc::kMemory, "mmap guest memory");
  mem.base_ = static_cast<uint8_t*>(p);
  return mem;
}

GuestMemory::GuestMemory(GuestMemory&& o) noexcept
    : memfd_(std::move(o.memfd_)),
      base_(std::exchange(o.base_, nullptr)),
      layout_(std::move(o.layout_)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& o) noexcept {
  if (this != &o) {
    unmap();
    memfd_ = std::move(o.memfd_);
    base_ = std::exchange(o.base_, nullptr);
    layout_ = std::move(o.layout_);
  }
  return *this;
}

GuestMemory::~GuestMemory() {
  unmap();
}

void GuestMemory::unmap() {
  // SAFETY: base_ was returned by mmap of ram_bytes and is only unmapped here.
  if (base_ != nullptr) ::munmap(base_, layout_.ram_bytes);
  base_ = nullptr;
}

VmmResult<void> GuestMemory::register_slots(VmFd& vm) const {
  for (size_t i = 0; i < layout_.slots.size(); ++i) {
    const RamSlot& s = layout_.slots[i];
    // The slot lies inside the mapping by construction of the layout (offset + size <= ram).
    auto r = vm.set_memory_region(static_cast<uint32_t>(i), s.gpa, s.size, base_ + s.offset);
    if (!r) return r;
  }
  return {};
}

GuestMemoryView GuestMemory::view() const {
  std::vector<MemoryRegion> regions;
  for (const RamSlot& s : layout_.slots) regions.push_back({s.gpa, s.size, base_ + s.offset});
  return GuestMemoryView(std::move(regions));
}

VmmResult<void> GuestMemory::lock() {
  if (::mlock(base_, layout_.ram_bytes) != 0) {
    return vmm_errno(VmmErrc::kMemory, "mlock guest memory (reserved)");
  }
  return {};
}

uint64_t GuestMemory::resident_bytes() const {
  if (base_ == nullptr) return 0;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t pages = (layout_.ram_bytes + page - 1) / page;
  std::vector<unsigned char> vec(pages);
  // SAFETY: base_ is our page-aligned mapping of ram_bytes; vec has one byte per page.
  if (::mincore(base_, layout_.ram_bytes, vec.data()) < 0) return 0;
  uint64_t resident = 0;
  for (unsigned char v : vec) resident += (v & 1);
  return resident * page;
}

}  // namespace flotilla::vmm
