#include "hw/smp.h"

#include "arch/layout.h"
#include "hw/apic.h"
#include "hw/boot_info.h"
#include "hw/clock.h"
#include "hw/io.h"
#include "lib/lib.h"

extern volatile uint32_t cpus_online;
extern const char ap_trampoline_start[], ap_trampoline_end[];

static int started;

static uint8_t checksum(const void* p, uint32_t n) {
  const uint8_t* b = p;
  uint8_t sum = 0;
  while (n--) sum += *b++;
  return sum;
}

/* MP spec 1.4: the floating pointer "_MP_" (16 bytes, 16-aligned) in the first KiB of the
 * EBDA, the last KiB of base memory, or 0xf0000-0xfffff. */
static const uint8_t* find_mp_floating(void) {
  uint64_t ebda = (uint64_t)(*(volatile uint16_t*)phys(0x40e)) << 4;
  uint64_t ranges[3][2] = {{ebda, 1024}, {0x9fc00, 1024}, {0xf0000, 0x10000}};
  for (int r = 0; r < 3; ++r) {
    if (!ranges[r][0]) continue;
    for (uint64_t a = ranges[r][0]; a < ranges[r][0] + ranges[r][1]; a += 16) {
      const uint8_t* p = (const uint8_t*)(uintptr_t)a;
      if (!memcmp(p, "_MP_", 4) && p[8] == 1 && checksum(p, 16) == 0) return p;
    }
  }
  return 0;
}

static unsigned mp_table_cpus(void) {
  const uint8_t* fp = find_mp_floating();
  if (!fp) return 0;
  uint32_t cfg = *(const uint32_t*)(fp + 4);
  if (!cfg) return 0;
  const uint8_t* t = (const uint8_t*)(uintptr_t)cfg;
  uint16_t len = *(const uint16_t*)(t + 4);
  if (memcmp(t, "PCMP", 4) || checksum(t, len) != 0) return 0;
  uint16_t entries = *(const uint16_t*)(t + 34);
  const uint8_t* e = t + 44;
  unsigned cpus = 0;
  for (uint16_t i = 0; i < entries && e < t + len; ++i) {
    if (e[0] == 0) { /* processor: 20 bytes, flags bit 0 = enabled */
      if (e[3] & 1) ++cpus;
      e += 20;
    } else {
      e += 8;
    }
  }
  return cpus;
}

static const uint8_t* find_rsdp(void) {
  if (boot_info.rsdp_paddr) return (const uint8_t*)(uintptr_t)boot_info.rsdp_paddr;
  uint64_t ebda = (uint64_t)(*(volatile uint16_t*)phys(0x40e)) << 4;
  uint64_t ranges[2][2] = {{ebda, 1024}, {0xe0000, 0x20000}};
  for (int r = 0; r < 2; ++r) {
    if (!ranges[r][0]) continue;
    for (uint64_t a = ranges[r][0]; a < ranges[r][0] + ranges[r][1]; a += 16) {
      const uint8_t* p = (const uint8_t*)(uintptr_t)a;
      if (!memcmp(p, "RSD PTR ", 8) && checksum(p, 20) == 0) return p;
    }
  }
  return 0;
}

/* ACPI: RSDP -> XSDT (revision >= 2) or RSDT -> "APIC" (MADT), or 0. */
static const uint8_t* find_madt(void) {
  const uint8_t* rsdp = find_rsdp();
  if (!rsdp || memcmp(rsdp, "RSD PTR ", 8)) return 0;
  int xsdt = rsdp[15] >= 2 && *(const uint64_t*)(rsdp + 24);
  const uint8_t* sdt = (const uint8_t*)(uintptr_t)(xsdt ? *(const uint64_t*)(rsdp + 24)
                                                        : *(const uint32_t*)(rsdp + 16));
  uint32_t len = *(const uint32_t*)(sdt + 4);
  unsigned esize = xsdt ? 8 : 4;
  for (uint32_t off = 36; off + esize <= len; off += esize) {
    uint64_t addr = xsdt ? *(const uint64_t*)(sdt + off) : *(const uint32_t*)(sdt + off);
    const uint8_t* t = (const uint8_t*)(uintptr_t)addr;
    if (!memcmp(t, "APIC", 4)) return t;
  }
  return 0;
}

/* Count enabled (or online-capable) local APIC and x2APIC entries of the MADT. */
static unsigned madt_cpus(void) {
  const uint8_t* t = find_madt();
  if (!t) return 0;
  uint32_t tlen = *(const uint32_t*)(t + 4);
  unsigned cpus = 0;
  for (uint32_t e = 44; e + 2 <= tlen && t[e + 1] >= 2; e += t[e + 1]) {
    if (t[e] == 0 && (*(const uint32_t*)(t + e + 4) & 3)) ++cpus;
    if (t[e] == 9 && (*(const uint32_t*)(t + e + 8) & 3)) ++cpus;
  }
  return cpus;
}

uint64_t smp_madt_ioapic(uint32_t gsi_base) {
  const uint8_t* t = find_madt();
  if (!t) return 0;
  uint32_t tlen = *(const uint32_t*)(t + 4);
  for (uint32_t e = 44; e + 2 <= tlen && t[e + 1] >= 2; e += t[e + 1])
    if (t[e] == 1 && t[e + 1] >= 12 && *(const uint32_t*)(t + e + 8) == gsi_base)
      return *(const uint32_t*)(t + e + 4);
  return 0;
}

unsigned smp_expected_cpus(const char** source) {
  unsigned n = mp_table_cpus();
  if (n) {
    if (source) *source = "mptable";
    return n;
  }
  n = madt_cpus();
  if (n) {
    if (source) *source = "madt";
    return n;
  }
  if (source) *source = "none";
  return 1;
}

unsigned smp_online(void) {
  return cpus_online;
}

unsigned smp_start_aps(unsigned expected) {
  if (started || expected <= 1) return cpus_online;
  started = 1;
  memcpy(phys(AP_TRAMPOLINE_ADDR), ap_trampoline_start,
         (size_t)(ap_trampoline_end - ap_trampoline_start));
  mb();
  /* All-excluding-self: INIT (assert, level), then two SIPIs to vector 0x08 (0x8000). */
  lapic_send_ipi(0, 0x000c4500);
  udelay(10000);
  uint32_t sipi = 0x000c4600 | (AP_TRAMPOLINE_ADDR >> 12);
  lapic_send_ipi(0, sipi);
  udelay(200);
  if (cpus_online < expected) lapic_send_ipi(0, sipi);
  /* APs run their prologue emulated on PVM hosts: allow them a generous second. */
  uint64_t end = rdtsc() + clock_info.tsc_hz;
  while (cpus_online < expected && (int64_t)(rdtsc() - end) < 0) cpu_relax();
  return cpus_online;
}
