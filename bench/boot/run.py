#!/usr/bin/env python3
"""bench/boot: flotilla-vmm vs QEMU microvm vs a raw-KVM floor, same probe guest, one run.

(a) exec -> "flotilla-probe ready" on the serial console, flotilla-vmm vs qemu-system-x86_64 -M
    microvm (flags from guest/probe/README.md), same guest, memory and command line.
(b) monitor RSS minus the guest memory it has touched (the Rss of the guest RAM mapping in
    /proc/PID/smaps), after boot and one `mem` command, for both.
(c) one PIO exit round trip: probe `pio N` (ring 3, port 0x80, through our dispatcher and bus),
    timed as (t(pio N) - t(pio 0)) / N over the console, beside raw_kvm_pio N (a minimal raw-KVM
    program whose ring-3 guest does the same writes).
Each figure is the median of --runs runs; runs of the contenders are interleaved.
"""
import argparse
import os
import select
import statistics
import subprocess
import time

MARKER = b"flotilla-probe ready"


class Guest:
    def __init__(self, argv):
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.buf = b""

    def until(self, needle, timeout=60.0):
        deadline = time.perf_counter() + timeout
        while needle not in self.buf:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise RuntimeError("timeout waiting for %r: %r" % (needle, self.buf[-300:]))
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                raise RuntimeError("EOF waiting for %r: %r" % (needle, self.buf[-300:]))
            self.buf += data
        self.buf = self.buf[self.buf.index(needle) + len(needle):]
        return time.perf_counter()

    def command(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        self.until(b"OK\r\n")
        return self.until(b"probe> ")

    def stop(self):
        self.p.kill()
        self.p.wait()


def rss_overhead(pid, guest_mapping):
    """(VmRSS - Rss of the guest RAM mapping, private bytes outside it, that guest Rss)."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    guest = private = 0
    with open("/proc/%d/smaps" % pid) as f:
        current = None
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping header
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                current = guest_mapping(hi - lo, " ".join(fields[5:]))
            elif fields[0] == "Rss:" and current:
                guest = max(guest, int(fields[1]) * 1024)
            elif fields[0] in ("Private_Clean:", "Private_Dirty:") and not current:
                private += int(fields[1]) * 1024
    return rss - guest, private, guest


def ours_argv(a):
    return [a.vmm, "--kernel", a.probe, "--memory-mib", str(a.memory_mib), "--cmdline", a.cmdline]


def qemu_argv(a):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=on", "-enable-kvm",
            "-cpu", "host,-arch-capabilities", "-m", "%dM" % a.memory_mib, "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", a.probe, "-append", a.cmdline,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]


def boot_once(argv, guest_mapping):
    g = Guest(argv)
    try:
        t = g.until(MARKER) - g.t0
        g.until(b"probe> ")
        g.command("mem")
        return (t,) + rss_overhead(g.p.pid, guest_mapping)
    finally:
        g.stop()


def pio_ours(a):
    g = Guest(ours_argv(a))
    try:
        g.until(b"probe> ")
        t = time.perf_counter()
        t0 = g.command("pio 0") - t
        t = time.perf_counter()
        tn = g.command("pio %d" % a.pio) - t
        return (tn - t0) / a.pio
    finally:
        g.stop()


def pio_floor(a):
    out = subprocess.run([a.raw, str(a.pio)], capture_output=True, text=True, check=True).stdout
    return float(out.split("ns_per_exit=")[1]) / 1e9


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--pio", type=int, default=20000)
    ap.add_argument("--memory-mib", type=int, default=128)
    ap.add_argument("--cmdline", default="console=ttyS0 bench=1")
    a = ap.parse_args()
    a.vmm = os.path.join(a.build, "vmm/flotilla-vmm")
    a.probe = os.path.join(a.build, "guest/probe/probe.elf")
    a.raw = os.path.join(a.build, "bench/boot/raw_kvm_pio")
    mem = a.memory_mib << 20
    ours_map = lambda size, name: "flotilla-guest-ram" in name
    qemu_map = lambda size, name: name == "" and mem <= size <= mem + (8 << 20)

    res = {k: [] for k in ("boot_ours", "boot_qemu", "ovh_ours", "ovh_qemu", "priv_ours",
                           "priv_qemu", "guest_ours", "guest_qemu", "pio_ours", "pio_floor")}
    for i in range(a.runs):
        for who, argv, gm in (("ours", ours_argv(a), ours_map), ("qemu", qemu_argv(a), qemu_map)):
            t, o, p, g = boot_once(argv, gm)
            for k, v in (("boot", t), ("ovh", o), ("priv", p), ("guest", g)):
                res["%s_%s" % (k, who)].append(v)
        res["pio_ours"].append(pio_ours(a))
        res["pio_floor"].append(pio_floor(a))
        print("run %d/%d done" % (i + 1, a.runs), flush=True)
    m = {k: statistics.median(v) for k, v in res.items()}
    mib = 1 << 20
    print()
    print("median of %d runs, probe guest, %d MiB, cmdline %r, pio N=%d" %
          (a.runs, a.memory_mib, a.cmdline, a.pio))
    print("%-40s %14s %14s %8s  %s" % ("figure", "flotilla-vmm", "reference", "ratio", "goal"))
    print("%-40s %11.1f ms %11.1f ms %8.3f  < 0.333" % (
        "(a) exec -> boot marker (vs QEMU)", m["boot_ours"] * 1e3, m["boot_qemu"] * 1e3,
        m["boot_ours"] / m["boot_qemu"]))
    print("%-40s %10.2f MiB %10.2f MiB %8.3f  < 5 MiB" % (
        "(b) RSS - guest touched (vs QEMU)", m["ovh_ours"] / mib, m["ovh_qemu"] / mib,
        m["ovh_ours"] / m["ovh_qemu"]))
    print("%-40s %10.2f MiB %10.2f MiB %8.3f" % (
        "    private (USS) outside guest RAM", m["priv_ours"] / mib, m["priv_qemu"] / mib,
        m["priv_ours"] / m["priv_qemu"]))
    print("%-40s %10.2f MiB %10.2f MiB" % (
        "    guest memory touched", m["guest_ours"] / mib, m["guest_qemu"] / mib))
    print("%-40s %11.2f us %11.2f us %8.3f  < 1.2" % (
        "(c) PIO exit round trip (vs raw KVM)", m["pio_ours"] * 1e6, m["pio_floor"] * 1e6,
        m["pio_ours"] / m["pio_floor"]))
    print("\nall runs (s / bytes):")
    for k, v in res.items():
        print("  %-11s %s" % (k, " ".join("%.6g" % x for x in v)))


if __name__ == "__main__":
    main()
