// Bus: sorted, non-overlapping ranges; dispatch is a binary search plus relaxed counters.
#include "vmm/devices/bus.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace flotilla::vmm {

namespace {
constexpr size_t kMaxLoggedAddresses = 256;
}  // namespace

Result<void, SimpleError> Bus::insert(uint64_t base, uint64_t length,
                                      std::shared_ptr<BusDevice> device, std::string name) {
  if (length == 0) return fail(SimpleError{name_ + ": zero-length range for " + name});
  if (device == nullptr) return fail(SimpleError{name_ + ": no device for " + name});
  if (base + length < base) return fail(SimpleError{name_ + ": range overflows for " + name});
  const uint64_t last = base + length - 1;
  for (const auto& r : ranges_) {
    const uint64_t r_last = r.base + r.length - 1;
    if (base <= r_last && r.base <= last) {
      return fail(SimpleError{name_ + ": " + name + " overlaps " + r.name});
    }
  }
  auto pos = std::upper_bound(ranges_.begin(), ranges_.end(), base,
                              [](uint64_t b, const Range& r) { return b < r.base; });
  ranges_.insert(pos, Range{base, length, std::move(device), std::move(name),
                            std::make_unique<std::atomic<uint64_t>>(0),
                            std::make_unique<std::atomic<uint64_t>>(0)});
  return {};
}

const Bus::Range* Bus::find(uint64_t addr, uint64_t size) const {
  // The last range whose base is <= addr.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                             [](uint64_t a, const Range& r) { return a < r.base; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  const uint64_t offset = addr - it->base;
  if (offset >= it->length || size > it->length - offset) return nullptr;
  return &*it;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) {
  const Range* r = find(addr, data.size());
  if (r == nullptr || data.empty()) {
    std::fill(data.begin(), data.end(), 0xff);
    note_unknown(addr, false, data.size());
    return false;
  }
  r->reads->fetch_add(1, std::memory_order_relaxed);
  r->device->read(addr - r->base, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) {
  const Range* r = find(addr, data.size());
  if (r == nullptr || data.empty()) {
    note_unknown(addr, true, data.size());
    return false;
  }
  r->writes->fetch_add(1, std::memory_order_relaxed);
  r->device->write(addr - r->base, data);
  return true;
}

std::vector<BusRangeStats> Bus::stats() const {
  std::vector<BusRangeStats> out;
  out.reserve(ranges_.size());
  for (const auto& r : ranges_) {
    out.push_back({r.name, r.base, r.length, r.reads->load(std::memory_order_relaxed),
                   r.writes->load(std::memory_order_relaxed)});
  }
  return out;
}

void Bus::note_unknown(uint64_t addr, bool is_write, size_t size) {
  unknown_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& [base, length] : quiet_) {
    if (addr >= base && addr - base < length) return;
  }
  {
    std::lock_guard lock(logged_mutex_);
    if (logged_.size() >= kMaxLoggedAddresses) return;
    if (std::find(logged_.begin(), logged_.end(), addr) != logged_.end()) return;
    logged_.push_back(addr);
  }
  spdlog::warn("{}: unhandled {}-byte {} at {:#x} (logged once per address)", name_, size,
               is_write ? "write" : "read", addr);
}

}  // namespace flotilla::vmm
