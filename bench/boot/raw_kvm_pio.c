// raw_kvm_pio: the floor for one PIO exit round trip. A minimal raw-KVM program whose guest,
// like the probe's `pio N`, runs in 64-bit ring 3 (IOPL 3) and writes one byte to port 0x80
// N times, then writes port 0x81 once. The VMM loop does nothing but count. Prints ns/exit.
//
// Usage: raw_kvm_pio [N]   (default 20000)
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4u << 20)
#define GDT 0x500
#define PML4 0x9000
#define PDPT 0xa000
#define PD 0xb000
#define KCODE 0x1000
#define UCODE 0x2000
#define USTACK 0x8000

static void die(const char* what) {
  fprintf(stderr, "raw_kvm_pio: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void setup_memory(uint8_t* mem) {
  uint64_t* gdt = (uint64_t*)(mem + GDT);
  gdt[1] = 0x00209a0000000000ull;       // 0x08 kernel code 64
  gdt[2] = 0x0000920000000000ull;       // 0x10 kernel data
  gdt[3] = 0x0020fa0000000000ull;       // 0x18 user code 64 (selector 0x1b)
  gdt[4] = 0x0000f20000000000ull;       // 0x20 user data (selector 0x23)
  *(uint64_t*)(mem + PML4) = PDPT | 7;  // present, writable, user
  *(uint64_t*)(mem + PDPT) = PD | 7;
  *(uint64_t*)(mem + PD) = 0x87;  // 2 MiB page at 0, user
  *(uint64_t*)(mem + PD + 8) = 0x200000 | 0x87;
  // Ring 0: iretq to ring 3 (rcx = N survives).
  static const uint8_t kcode[] = {
      0x6a, 0x23,                    // push 0x23 (ss)
      0x68, 0x00, 0x80, 0x00, 0x00,  // push USTACK
      0x68, 0x02, 0x30, 0x00, 0x00,  // push 0x3002 (IOPL 3)
      0x6a, 0x1b,                    // push 0x1b (cs)
      0x68, 0x00, 0x20, 0x00, 0x00,  // push UCODE
      0x48, 0xcf,                    // iretq
  };
  memcpy(mem + KCODE, kcode, sizeof(kcode));
  // Ring 3: 1: out 0x80, al; dec rcx; jnz 1b; out 0x81, al; jmp $
  static const uint8_t ucode[] = {0xe6, 0x80, 0x48, 0xff, 0xc9, 0x75, 0xf9, 0xe6, 0x81, 0xeb, 0xfe};
  memcpy(mem + UCODE, ucode, sizeof(ucode));
}

static void set_seg(struct kvm_segment* s, uint16_t sel, uint8_t type, int code) {
  memset(s, 0, sizeof(*s));
  s->selector = sel;
  s->limit = 0xffffffff;
  s->type = type;
  s->present = 1;
  s->s = 1;
  s->l = code;
  s->db = !code;
  s->g = 1;
}

static void setup_vcpu(int kvm, int vcpu, uint64_t n) {
  struct {
    struct kvm_cpuid2 h;
    struct kvm_cpuid_entry2 e[256];
  } cpuid = {.h.nent = 256};
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
  if (ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  set_seg(&sregs.cs, 0x08, 0xb, 1);
  set_seg(&sregs.ds, 0x10, 0x3, 0);
  sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
  sregs.tr.present = 1;
  sregs.tr.type = 0xb;
  sregs.tr.limit = 0x67;
  sregs.gdt.base = GDT;
  sregs.gdt.limit = 5 * 8 - 1;
  sregs.cr3 = PML4;
  sregs.cr4 = 0x20;        // PAE
  sregs.cr0 = 0x80000011;  // PG | ET | PE
  sregs.efer = 0x500;      // LME | LMA
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = KCODE, .rsp = 0x7000, .rflags = 2, .rcx = n};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  uint8_t* mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  setup_memory(mem);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run* run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  setup_vcpu(kvm, vcpu, n);

  uint64_t count = 0;
  double start = 0;
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("KVM_RUN");
    }
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "raw_kvm_pio: unexpected exit %u\n", run->exit_reason);
      return 1;
    }
    if (run->io.port == 0x80) {
      if (count++ == 0) start = now_ns();  // time from the first exit: ring-0 setup excluded
    } else if (run->io.port == 0x81) {
      break;
    }
  }
  const double per = count > 1 ? (now_ns() - start) / (double)(count - 1) : 0;
  printf("raw_kvm_pio writes=%llu ns_per_exit=%.0f\n", (unsigned long long)count, per);
  return count == n ? 0 : 1;
}
