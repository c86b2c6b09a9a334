// Builds small PVH ELF images in memory for the loader and config tests.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

namespace flotilla::vmm::test {

inline constexpr uint8_t kHaltLoop[] = {0xf4, 0xeb, 0xfd};  // hlt; jmp $-1

struct ElfSpec {
  uint64_t load_addr = 0x100000;
  std::vector<uint8_t> payload{std::begin(kHaltLoop), std::end(kHaltLoop)};
  uint64_t extra_bss = 0x1000;  // memsz - filesz
  bool with_note = true;
  bool note_in_section_only = false;  // note only reachable through SHT_NOTE
  uint32_t note_desc_size = 4;
  uint32_t entry = 0x100000;
};

inline void put(std::vector<uint8_t>& out, size_t at, const void* p, size_t n) {
  if (out.size() < at + n) out.resize(at + n);
  std::memcpy(out.data() + at, p, n);
}

inline std::vector<uint8_t> pvh_note(const ElfSpec& s) {
  std::vector<uint8_t> note;
  Elf64_Nhdr nh{4, s.note_desc_size, 18};
  put(note, 0, &nh, sizeof(nh));
  put(note, sizeof(nh), "Xen", 4);
  uint64_t entry = s.entry;
  put(note, sizeof(nh) + 4, &entry, s.note_desc_size);
  note.resize((note.size() + 3) & ~size_t{3});
  return note;
}

// Layout: ehdr | 2 phdrs | note | payload | 2 shdrs (null + note).
inline std::vector<uint8_t> build_elf64(const ElfSpec& s) {
  std::vector<uint8_t> out;
  const std::vector<uint8_t> note = pvh_note(s);
  const size_t ph_off = sizeof(Elf64_Ehdr);
  const size_t note_off = ph_off + 2 * sizeof(Elf64_Phdr);
  const size_t payload_off = note_off + note.size();
  const size_t sh_off = (payload_off + s.payload.size() + 7) & ~size_t{7};
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = s.entry;
  eh.e_phoff = ph_off;
  eh.e_shoff = sh_off;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 2;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 2;
  put(out, 0, &eh, sizeof(eh));
  Elf64_Phdr load{PT_LOAD,
                  PF_R | PF_X,
                  payload_off,
                  s.load_addr,
                  s.load_addr,
                  s.payload.size(),
                  s.payload.size() + s.extra_bss,
                  0x1000};
  Elf64_Phdr nph{
      static_cast<Elf64_Word>(s.with_note && !s.note_in_section_only ? PT_NOTE : PT_NULL),
      PF_R,
      note_off,
      0,
      0,
      note.size(),
      note.size(),
      4};
  put(out, ph_off, &load, sizeof(load));
  put(out, ph_off + sizeof(load), &nph, sizeof(nph));
  if (s.with_note) put(out, note_off, note.data(), note.size());
  put(out, payload_off, s.payload.data(), s.payload.size());
  Elf64_Shdr null_sh{};
  Elf64_Shdr note_sh{};
  note_sh.sh_type = s.with_note ? SHT_NOTE : SHT_PROGBITS;
  note_sh.sh_offset = note_off;
  note_sh.sh_size = note.size();
  put(out, sh_off, &null_sh, sizeof(null_sh));
  put(out, sh_off + sizeof(null_sh), &note_sh, sizeof(note_sh));
  return out;
}

// A minimal ELF32 (one PT_LOAD, one PT_NOTE).
inline std::vector<uint8_t> build_elf32(const ElfSpec& s) {
  std::vector<uint8_t> out;
  const std::vector<uint8_t> note = pvh_note(s);
  const size_t ph_off = sizeof(Elf32_Ehdr);
  const size_t note_off = ph_off + 2 * sizeof(Elf32_Phdr);
  const size_t payload_off = note_off + note.size();
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_version = EV_CURRENT;
  eh.e_entry = s.entry;
  eh.e_phoff = ph_off;
  eh.e_ehsize = sizeof(Elf32_Ehdr);
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = 2;
  put(out, 0, &eh, sizeof(eh));
  const auto addr = static_cast<Elf32_Addr>(s.load_addr);
  const auto fsz = static_cast<Elf32_Word>(s.payload.size());
  Elf32_Phdr load{PT_LOAD, static_cast<Elf32_Off>(payload_off),        addr,        addr,
                  fsz,     static_cast<Elf32_Word>(fsz + s.extra_bss), PF_R | PF_X, 0x1000};
  Elf32_Phdr nph{PT_NOTE,
                 static_cast<Elf32_Off>(note_off),
                 0,
                 0,
                 static_cast<Elf32_Word>(note.size()),
                 static_cast<Elf32_Word>(note.size()),
                 PF_R,
                 4};
  put(out, ph_off, &load, sizeof(load));
  put(out, ph_off + sizeof(load), &nph, sizeof(nph));
  put(out, note_off, note.data(), note.size());
  put(out, payload_off, s.payload.data(), s.payload.size());
  return out;
}

}  // namespace flotilla::vmm::test
