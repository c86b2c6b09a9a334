#include "vmm/arch/x86_64/pvh_elf.h"

#include <gtest/gtest.h>

#include "tests/unit/vmm/elf_builder.h"

namespace flotilla::vmm {
namespace {

using test::ElfSpec;

MemoryLayout layout_of(uint64_t mib) {
  return compute_layout(mib * layout::kMiB).value();
}

testing::AssertionResult refused_with(const VmmResult<PvhImage>& r, const std::string& text) {
  if (r.ok()) return testing::AssertionFailure() << "accepted";
  if (r.error().message.find(text) == std::string::npos) {
    return testing::AssertionFailure() << "message: " << r.error().message;
  }
  if (r.error().code != VmmErrc::kBoot) return testing::AssertionFailure() << "wrong code";
  return testing::AssertionSuccess();
}

TEST(PvhElf, LoadsAGoodElf64AndZeroFillsBss) {
  ElfSpec spec;
  spec.entry = 0x100001;
  const auto file = test::build_elf64(spec);
  const MemoryLayout lay = layout_of(4);
  auto image = parse_pvh_elf(file, lay);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->entry, 0x100001u);
  ASSERT_EQ(image->segments.size(), 1u);
  EXPECT_EQ(image->segments[0].paddr, 0x100000u);
  EXPECT_EQ(image->segments[0].mem_size, spec.payload.size() + spec.extra_bss);

  std::vector<uint8_t> ram(4 * layout::kMiB, 0xaa);
  GuestMemoryView view({{0, ram.size(), ram.data()}});
  ASSERT_TRUE(load_pvh_elf(file, *image, view).ok());
  EXPECT_EQ(ram[0x100000], 0xf4);
  EXPECT_EQ(ram[0x100002], 0xfd);
  EXPECT_EQ(ram[0x100003], 0x00);               // bss zeroed
  EXPECT_EQ(ram[0x100000 + 3 + 0x1000], 0xaa);  // past memsz untouched
  EXPECT_EQ(ram[0xfffff], 0xaa);
}

TEST(PvhElf, AcceptsAnEightByteNoteAndASectionOnlyNote) {
  ElfSpec spec;
  spec.note_desc_size = 8;
  EXPECT_TRUE(parse_pvh_elf(test::build_elf64(spec), layout_of(4)).ok());
  ElfSpec sect;
  sect.note_in_section_only = true;
  auto r = parse_pvh_elf(test::build_elf64(sect), layout_of(4));
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST(PvhElf, LoadsAGoodElf32) {
  auto r = parse_pvh_elf(test::build_elf32(ElfSpec{}), layout_of(4));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->entry, 0x100000u);
}

TEST(PvhElf, RefusesAFileThatIsNotAnElf) {
  const std::vector<uint8_t> text = {'#', '!', '/', 'b', 'i', 'n', '/', 's', 'h', '\n'};
  EXPECT_TRUE(refused_with(parse_pvh_elf(text, layout_of(4)), "not an ELF"));
  EXPECT_TRUE(refused_with(parse_pvh_elf({}, layout_of(4)), "not an ELF"));
}

TEST(PvhElf, RefusesAnElfWithoutThePvhNote) {
  ElfSpec spec;
  spec.with_note = false;
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(spec), layout_of(4)), "PVH"));
}

TEST(PvhElf, RefusesTruncatedFilesAtEveryLength) {
  const auto file = test::build_elf64(ElfSpec{});
  for (size_t len = 0; len < file.size() - 1; ++len) {
    std::vector<uint8_t> cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len));
    auto r = parse_pvh_elf(cut, layout_of(4));
    // Only the trailing section headers may be cut without losing something needed.
    const size_t payload_end = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 20 + 3;
    if (len < payload_end) {
      EXPECT_FALSE(r.ok()) << "length " << len;
    }
  }
}

TEST(PvhElf, RefusesASegmentOutsideRam) {
  ElfSpec spec;
  spec.load_addr = 8 * layout::kMiB;  // RAM is 4 MiB
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(spec), layout_of(4)), "outside"));
  ElfSpec low;
  low.load_addr = 0x7000;  // over the boot area
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(low), layout_of(4)), "outside"));
  ElfSpec hole;
  hole.load_addr = 0xfec00000;  // in the MMIO hole of a 5 GiB guest
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(hole), layout_of(5 * 1024)), "outside"));
}

TEST(PvhElf, RefusesAbsurdSizes) {
  ElfSpec huge;
  huge.extra_bss = ~uint64_t{0} - 16;  // memsz wraps around
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(huge), layout_of(4)), "outside"));

  auto file = test::build_elf64(ElfSpec{});
  auto* eh = reinterpret_cast<Elf64_Ehdr*>(file.data());
  eh->e_phnum = 0xffff;
  EXPECT_TRUE(refused_with(parse_pvh_elf(file, layout_of(4)), "program headers"));

  file = test::build_elf64(ElfSpec{});
  auto* ph = reinterpret_cast<Elf64_Phdr*>(file.data() + sizeof(Elf64_Ehdr));
  ph->p_filesz = 1ull << 40;
  ph->p_memsz = 1ull << 41;
  EXPECT_FALSE(parse_pvh_elf(file, layout_of(4)).ok());

  file = test::build_elf64(ElfSpec{});
  ph = reinterpret_cast<Elf64_Phdr*>(file.data() + sizeof(Elf64_Ehdr));
  ph->p_offset = ~uint64_t{0} - 1;
  EXPECT_TRUE(refused_with(parse_pvh_elf(file, layout_of(4)), "past the end"));

  file = test::build_elf64(ElfSpec{});
  auto* note =
      reinterpret_cast<Elf64_Nhdr*>(file.data() + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr));
  note->n_descsz = 0xfffffff0;  // note claims more than its segment
  auto r = parse_pvh_elf(file, layout_of(4));
  EXPECT_TRUE(r.ok() || r.error().message.find("PVH") != std::string::npos);
}

TEST(PvhElf, RefusesAnEntryOutsideRam) {
  ElfSpec spec;
  spec.entry = 0xf0000000;
  EXPECT_TRUE(refused_with(parse_pvh_elf(test::build_elf64(spec), layout_of(4)), "entry"));
}

}  // namespace
}  // namespace flotilla::vmm
