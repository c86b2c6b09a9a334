#!/usr/bin/env python3
"""bench/disk/threads.py: where a monitor's time goes during `blk bench` — per thread.

Boots the probe under flotilla-vmm (or QEMU microvm with --qemu) on a fresh raw image, and for
each bench command prints the guest's result line and, per monitor thread that did anything,
the voluntary and involuntary context switches and the user/system CPU time it used during
that command (from /proc/PID/task/TID/{status,stat}; CPU time in clock ticks, 10 ms here).
A thread that sleeps once per batch shows how large the batches were.

  python3 bench/disk/threads.py --build build-perf "blk bench rand write 128" "blk bench seq read 256"
  python3 bench/disk/threads.py --build build-perf --qemu "blk bench rand write 128"
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Guest, qemu_argv, BENCH_RE)


def snapshot(pid):
    tick_ms = 1000 // os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            name = open(base + "comm").read().strip()
            status = open(base + "status").read()
            stat = open(base + "stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        vol = int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        invol = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        out[tid] = (name, vol, invol, int(stat[11]) * tick_ms, int(stat[12]) * tick_ms)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", "--build-dir", dest="build", default=os.path.join(root, "build"))
    ap.add_argument("--vmm", default="", help="another flotilla-vmm binary (default: the build's)")
    ap.add_argument("--qemu", action="store_true", help="QEMU microvm instead of flotilla-vmm")
    ap.add_argument("--image-mib", type=int, default=256)
    ap.add_argument("--memory-mib", type=int, default=128)
    ap.add_argument("commands", nargs="+", help='probe commands, e.g. "blk bench rand write 128"')
    a = ap.parse_args()
    a.probe = os.path.join(a.build, "guest/probe/probe.elf")
    a.qemu_aio = "io_uring"
    host_io = os.path.join(a.build, "bench/disk/host_io")
    vmm = a.vmm or os.path.join(a.build, "vmm/flotilla-vmm")
    work = tempfile.mkdtemp(prefix="threads-", dir=os.path.join(a.build))
    try:
        image = os.path.join(work, "disk.raw")
        with open(image, "wb") as f:
            f.truncate(a.image_mib << 20)
        subprocess.run([host_io, image, "seq", "write", str(a.image_mib)], check=True,
                       capture_output=True)
        if a.qemu:
            argv = run.qemu_argv(a, image, "raw")
        else:
            argv = [vmm, "--kernel", a.probe, "--memory-mib", str(a.memory_mib), "--disk",
                    image + ",serial=bench,direct"]
        g = run.Guest(argv)
        try:
            g.until(b"probe> ", 60)
            g.command("blk info")
            for cmd in a.commands:
                before = snapshot(g.p.pid)
                out = g.command(cmd)
                after = snapshot(g.p.pid)
                m = run.BENCH_RE.search(out)
                print(m.group(0).decode() if m else cmd)
                for tid, (name, vol, invol, user, system) in sorted(after.items()):
                    if tid not in before:
                        continue
                    _, vol0, invol0, user0, system0 = before[tid]
                    if vol - vol0 + invol - invol0 <= 10:
                        continue
                    print("  %-16s tid %-7s voluntary %7d involuntary %6d user %5d ms sys %5d ms" %
                          (name, tid, vol - vol0, invol - invol0, user - user0, system - system0))
        finally:
            g.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
