#include "vmm/arch/x86_64/pvh_elf.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "common/unique_fd.h"

namespace flotilla::vmm {
namespace {

struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Phdr = Elf64_Phdr;
  using Shdr = Elf64_Shdr;
};
struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Phdr = Elf32_Phdr;
  using Shdr = Elf32_Shdr;
};

Unexpected<VmmError> boot_error(const std::string& what) {
  return vmm_fail(VmmErrc::kBoot, what);
}

// True if [off, off+len) lies inside a buffer of `size` bytes (overflow-safe).
bool in_file(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

template <class T>
T read_at(std::span<const uint8_t> file, uint64_t off) {
  T v;
  std::memcpy(&v, file.data() + off, sizeof(T));  // callers checked in_file(off, sizeof(T))
  return v;
}

// Scans the notes in [off, off+len) of the file for the PVH entry.
std::optional<uint32_t> find_pvh_note(std::span<const uint8_t> file, uint64_t off, uint64_t len) {
  if (!in_file(off, len, file.size())) return std::nullopt;
  const uint64_t end = off + len;
  while (end - off >= sizeof(Elf64_Nhdr)) {
    const auto nh = read_at<Elf64_Nhdr>(file, off);  // Elf32_Nhdr has the same layout
    const uint64_t name_off = off + sizeof(Elf64_Nhdr);
    const uint64_t name_len = (uint64_t{nh.n_namesz} + 3) & ~uint64_t{3};
    const uint64_t desc_len = (uint64_t{nh.n_descsz} + 3) & ~uint64_t{3};
    if (name_len > end - name_off || desc_len > end - name_off - name_len) return std::nullopt;
    const uint64_t desc_off = name_off + name_len;
    const bool is_xen = nh.n_namesz == 4 && std::memcmp(file.data() + name_off, "Xen", 4) == 0;
    if (is_xen && nh.n_type == kXenElfnotePhys32Entry && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
      return read_at<uint32_t>(file, desc_off);
    }
    off = desc_off + desc_len;
  }
  return std::nullopt;
}

template <class T>
std::optional<uint32_t> pvh_entry(std::span<const uint8_t> file, const typename T::Ehdr& eh) {
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = read_at<typename T::Phdr>(file, eh.e_phoff + i * sizeof(typename T::Phdr));
    if (ph.p_type != PT_NOTE) continue;
    if (auto e = find_pvh_note(file, ph.p_offset, ph.p_filesz)) return e;
  }
  if (eh.e_shentsize != sizeof(typename T::Shdr)) return std::nullopt;
  const uint64_t sh_bytes = uint64_t{eh.e_shnum} * sizeof(typename T::Shdr);
  if (!in_file(eh.e_shoff, sh_bytes, file.size())) return std::nullopt;
  for (uint32_t i = 0; i < eh.e_shnum; ++i) {
    const auto sh = read_at<typename T::Shdr>(file, eh.e_shoff + i * sizeof(typename T::Shdr));
    if (sh.sh_type != SHT_NOTE) continue;
    if (auto e = find_pvh_note(file, sh.sh_offset, sh.sh_size)) return e;
  }
  return std::nullopt;
}

bool in_ram(const MemoryLayout& layout, uint64_t gpa, uint64_t len) {
  for (const RamSlot& s : layout.slots) {
    if (gpa >= s.gpa && gpa - s.gpa < s.size && len <= s.size - (gpa - s.gpa)) return true;
  }
  return false;
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

VmmResult<ElfSegment> check_segment(std::span<const uint8_t> file, const ElfSegment& s,
                                    const MemoryLayout& layout) {
  if (s.file_size > s.mem_size) return boot_error("ELF segment file size exceeds memory size");
  if (!in_file(s.file_offset, s.file_size, file.size())) {
    return boot_error("ELF segment at " + hex(s.paddr) + " extends past the end of the file");
  }
  if (s.paddr < layout::kHighRam || !in_ram(layout, s.paddr, s.mem_size)) {
    return boot_error("ELF segment " + hex(s.paddr) + "+" + hex(s.mem_size) +
                      " lies outside guest RAM (from 1 MiB, " +
                      std::to_string(layout.ram_bytes / layout::kMiB) + " MiB)");
  }
  return s;
}

template <class T>
VmmResult<PvhImage> parse_typed(std::span<const uint8_t> file, const MemoryLayout& layout) {
  if (file.size() < sizeof(typename T::Ehdr)) return boot_error("ELF header is truncated");
  const auto eh = read_at<typename T::Ehdr>(file, 0);
  if (eh.e_type != ET_EXEC) return boot_error("ELF file is not an executable (ET_EXEC)");
  if (eh.e_phentsize != sizeof(typename T::Phdr) || eh.e_phnum == 0) {
    return boot_error("ELF file has no usable program headers");
  }
  if (!in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(typename T::Phdr), file.size())) {
    return boot_error("ELF program headers extend past the end of the file");
  }
  PvhImage image;
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = read_at<typename T::Phdr>(file, eh.e_phoff + i * sizeof(typename T::Phdr));
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    auto seg = check_segment(file, {ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz}, layout);
    if (!seg) return fail(seg.error());
    image.segments.push_back(*seg);
  }
  if (image.segments.empty()) return boot_error("ELF file has no PT_LOAD segment");
  auto entry = pvh_entry<T>(file, eh);
  if (!entry) {
    return boot_error(
        "ELF file has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); not PVH-bootable");
  }
  if (!in_ram(layout, *entry, 1)) return boot_error("PVH entry " + hex(*entry) + " is not in RAM");
  image.entry = *entry;
  return image;
}

}  // namespace

VmmResult<PvhImage> parse_pvh_elf(std::span<const uint8_t> file, const MemoryLayout& layout) {
  if (file.size() < EI_NIDENT || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    return boot_error("not an ELF file (bad magic)");
  }
  if (file[EI_DATA] != ELFDATA2LSB) return boot_error("ELF file is not little-endian");
  if (file[EI_CLASS] == ELFCLASS64) return parse_typed<Elf64Types>(file, layout);
  if (file[EI_CLASS] == ELFCLASS32) return parse_typed<Elf32Types>(file, layout);
  return boot_error("ELF file has an unknown class");
}

VmmResult<void> load_pvh_elf(std::span<const uint8_t> file, const PvhImage& image,
                             const GuestMemoryView& memory) {
  for (const ElfSegment& s : image.segments) {
    uint8_t* dst = memory.translate(s.paddr, s.mem_size);
    if (dst == nullptr || !in_file(s.file_offset, s.file_size, file.size())) {
      return boot_error("ELF segment at " + hex(s.paddr) + " does not fit guest memory");
    }
    // SAFETY: translate() returned a host pointer valid for mem_size bytes of guest RAM, and
    // the source range was checked against the file size.
    std::memcpy(dst, file.data() + s.file_offset, s.file_size);
    std::memset(dst + s.file_size, 0, s.mem_size - s.file_size);
  }
  return {};
}

VmmResult<std::vector<uint8_t>> read_kernel_file(const std::string& path, uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return vmm_errno(VmmErrc::kBoot, "cannot open kernel " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return vmm_errno(VmmErrc::kBoot, "stat " + path);
  if (!S_ISREG(st.st_mode)) return boot_error("kernel " + path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return boot_error("kernel " + path + " is larger than guest memory");
  }
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return vmm_errno(VmmErrc::kBoot, "read " + path);
    done += static_cast<size_t>(n);
  }
  return data;
}

}  // namespace flotilla::vmm
