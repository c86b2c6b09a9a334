// GuestMemoryView: a non-owning view of guest RAM as devices see it. Every guest-supplied
// address goes through translate(), which only returns a pointer when the whole range lies in
// one region, so no request can reach outside guest RAM. GuestMemory (the owner: memfd,
// mapping, memslots) hands out views; tests may build one over a plain buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace flotilla::vmm {

struct MemoryRegion {
  uint64_t gpa = 0;       // guest physical address of the first byte
  uint64_t size = 0;      // bytes
  uint8_t* host = nullptr;  // host address of the first byte
};

class GuestMemoryView {
 public:
  GuestMemoryView() = default;
  explicit GuestMemoryView(std::vector<MemoryRegion> regions) : regions_(std::move(regions)) {}

  // Host pointer for [gpa, gpa+len), or nullptr if any byte is outside a single region.
  uint8_t* translate(uint64_t gpa, uint64_t len) const {
    for (const auto& r : regions_) {
      if (gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa)) {
        return r.host + (gpa - r.gpa);
      }
    }
    return nullptr;
  }

  bool read(uint64_t gpa, void* dst, uint64_t len) const {
    const uint8_t* p = translate(gpa, len);
    if (p == nullptr) return false;
    std::memcpy(dst, p, len);
    return true;
  }
  bool write(uint64_t gpa, const void* src, uint64_t len) const {
    uint8_t* p = translate(gpa, len);
    if (p == nullptr) return false;
    std::memcpy(p, src, len);
    return true;
  }
  template <class T>
  std::optional<T> read_obj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    if (!read(gpa, &v, sizeof(T))) return std::nullopt;
    return v;
  }
  template <class T>
  bool write_obj(uint64_t gpa, const T& v) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, &v, sizeof(T));
  }

  const std::vector<MemoryRegion>& regions() const { return regions_; }

 private:
  std::vector<MemoryRegion> regions_;
};

}  // namespace flotilla::vmm
