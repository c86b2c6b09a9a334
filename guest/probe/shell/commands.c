/* The shell's commands. Output formats are a contract (team/VMM.md): tests parse them. */
#include "hw/boot_info.h"
#include "hw/clock.h"
#include "hw/io.h"
#include "hw/smp.h"
#include "hw/uart.h"
#include "lib/lib.h"
#include "shell/blk.h"
#include "shell/hostile.h"
#include "shell/net.h"
#include "shell/shell.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_rng.h"

static const char* cmd_help(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  for (unsigned i = 0; i < command_count; ++i)
    kprintf("%s - %s\r\n", commands[i].name, commands[i].usage);
  return 0;
}

static const char* cmd_echo(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv;
  kprintf("%s\r\n", rest);
  return 0;
}

static const char* cmd_mem(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  if (!boot_info.valid || !boot_info.memmap_entries) return "no memory map";
  uint64_t bytes = 0;
  unsigned regions = 0;
  for (uint32_t i = 0; i < boot_info.memmap_entries; ++i) {
    if (boot_info.memmap[i].type != 1) continue;
    bytes += boot_info.memmap[i].size;
    ++regions;
  }
  kprintf("mem ram_bytes=%lu regions=%u\r\n", bytes, regions);
  return 0;
}

static const char* cmd_cpus(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  unsigned expected = smp_expected_cpus(0);
  unsigned online = smp_start_aps(expected);
  kprintf("cpus online=%u expected=%u\r\n", online, expected);
  return 0;
}

static const char* cmd_burn(int argc, char** argv, const char* rest) {
  (void)rest;
  uint64_t seconds;
  if (argc != 2 || parse_u64(argv[1], &seconds) || seconds > 3600) return "usage: burn SECONDS";
  uint64_t iterations = 0;
  uint64_t end = rdtsc() + seconds * clock_info.tsc_hz;
  do {
    for (unsigned i = 0; i < 4096; ++i) {
      ++iterations;
      __asm__ volatile("" : "+r"(iterations)); /* one real add per iteration */
    }
  } while ((int64_t)(rdtsc() - end) < 0);
  kprintf("burn seconds=%lu iterations=%lu\r\n", seconds, iterations);
  return 0;
}

static const char* cmd_counter(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  kprintf("counter value=%lu\r\n", ticks());
  return 0;
}

static const char* cmd_rng(int argc, char** argv, const char* rest) {
  (void)rest;
  static uint8_t bytes[4096];
  static char line[32 + 2 * sizeof bytes];
  uint64_t n;
  if (argc != 2 || parse_u64(argv[1], &n) || n < 1 || n > sizeof bytes)
    return "usage: rng N (1..4096)";
  int r = virtio_rng_read(bytes, n);
  if (r == -1) return "no virtio-rng device";
  if (r == -3) return "virtio-rng device is legacy (virtio-mmio version 1)";
  if (r < 0) return "virtio-rng device failed";
  int len = ksnprintf(line, sizeof line, "rng bytes=%lu hex=", n);
  for (uint64_t i = 0; i < n; ++i) {
    line[len++] = "0123456789abcdef"[bytes[i] >> 4];
    line[len++] = "0123456789abcdef"[bytes[i] & 15];
  }
  line[len++] = '\r';
  line[len++] = '\n';
  uart_write(line, (size_t)len);
  return 0;
}

static const char* cmd_info(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  const char* cpu_source;
  unsigned expected = smp_expected_cpus(&cpu_source);
  kprintf("info tsc_hz=%lu lapic_timer_hz=%lu clock=%s cpus_expected=%u cpus_from=%s\r\n",
          clock_info.tsc_hz, clock_info.lapic_timer_hz * 16, clock_info.source, expected,
          cpu_source);
  struct virtio_dev* devs;
  unsigned n = virtio_devices(&devs);
  for (unsigned i = 0; i < n; ++i)
    kprintf("virtio slot=%u base=0x%lx device_id=%u version=%u\r\n", devs[i].slot, devs[i].base,
            devs[i].device_id, devs[i].version);
  kprintf("cmdline %s\r\n", boot_info.cmdline);
  return 0;
}

static const char* cmd_poweroff(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  uart_puts("OK\r\n");
  uart_drain();
  outb(0xf4, 0);
  udelay(100000);
  return "exit device did not power off";
}

static const char* cmd_reboot(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  uart_puts("OK\r\n");
  uart_drain();
  outb(0x64, 0xfe); /* i8042 pulse reset line */
  udelay(10000);
  sys_triple_fault();
  return "reset did not happen";
}

const struct command commands[] = {
    {"help", "list commands", cmd_help},
    {"echo", "echo TEXT: print TEXT", cmd_echo},
    {"mem", "RAM in the boot memory map", cmd_mem},
    {"cpus", "start the secondary CPUs, report online/expected", cmd_cpus},
    {"burn", "burn SECONDS: ring-3 busy loop", cmd_burn},
    {"counter", "100 Hz timer tick counter", cmd_counter},
    {"rng", "rng N: N bytes from virtio-rng (1..4096)", cmd_rng},
    {"pio", "pio N: N writes to port 0x80", cmd_pio},
    {"ports", "read and write every I/O port but the console, exit, i8042 and RTC", cmd_ports},
    {"mmio", "read and write unmapped MMIO", cmd_mmio},
    {"blk",
     "blk info|use N|write LBA COUNT SEED|verify LBA COUNT SEED|flush|discard LBA COUNT|"
     "zeroes LBA COUNT|bench seq|rand read|write MIB: virtio-blk disks",
     cmd_blk},
    {"net",
     "net info|use N|send MAC COUNT SIZE|recv COUNT SECONDS|ping IP COUNT|"
     "bench MAC SECONDS SIZE: virtio-net NICs",
     cmd_net},
    {"info", "clock calibration, CPU source, virtio devices, command line", cmd_info},
    {"poweroff", "power off through port 0xf4", cmd_poweroff},
    {"reboot", "reset through the i8042, else a triple fault", cmd_reboot},
};
const unsigned command_count = sizeof commands / sizeof commands[0];
