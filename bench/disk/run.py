#!/usr/bin/env python3
"""bench/disk: probe `blk bench` under flotilla-vmm and QEMU microvm beside the host, same file.

Rows: seq-read / seq-write in 1 MiB requests (4 in flight), rand-read / rand-write in 4 KiB
requests at pseudo-random 4 KiB-aligned offsets (32 in flight), for a raw and a qcow2 image on
the same file system. Columns:
  host    bench/disk/host_io: the same requests, same offsets, same queue depth, io_uring +
          O_DIRECT on the image file itself (the limit: no guest, no virtio, no format code).
  ours    flotilla-vmm --disk IMG[,format=qcow2],direct + the probe guest's `blk bench`.
  qemu    qemu-system-x86_64 -M microvm, -drive ...,cache=none,aio=io_uring (or --qemu-aio)
          + virtio-blk-device, the same probe guest and command.
Each round makes fresh images (raw: written through once with real data; qcow2: qemu-img
convert of that raw file, so every cluster is allocated), runs the guests (their order rotates
between rounds, so each takes each slot equally often: use a multiple of 2, or 3 with
--baseline, for --runs), then the host tool (its writes land on the image files directly,
which is why it goes last and the images are remade each round). Figures are medians of
--runs rounds; a "paired" ratio is the median of the per-round ratios. Writes
bench/disk/RESULTS.md unless --no-write.
"""
import argparse
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROWS = [("seq", "read"), ("seq", "write"), ("rand", "read"), ("rand", "write")]
BENCH_RE = re.compile(rb"blk bench pattern=(\w+) op=(\w+) mib=(\d+) ms=(\d+) "
                      rb"mib_per_s=([\d.]+) iops=(\d+)")
HOST_RE = re.compile(r"host pattern=(\w+) op=(\w+) mib=(\d+) ms=(\d+) mib_per_s=([\d.]+) "
                     r"iops=(\d+)")


class GuestError(RuntimeError):
    pass


class Guest:
    """A monitor process with the probe's console on stdin/stdout."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""

    def until(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise GuestError("timeout waiting for %r: %r" % (needle, self.buf[-300:]))
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                self.p.wait()
                err = self.p.stderr.read().decode(errors="replace").strip()
                raise GuestError("monitor exited (%s): %s" % (self.p.returncode, err[-400:]))
            self.buf += data
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def command(self, line, timeout=600):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        out = self.until(b"probe> ", timeout)
        if b"\nOK\r\n" not in out:
            raise GuestError("%s: %r" % (line, out[-300:]))
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


# A vCPU thread: ours name theirs `vcpuN`, QEMU (with -name ...,debug-threads=on) `CPU N/KVM`.
VCPU_COMM = re.compile(r"^(vcpu\d+|CPU \d+/KVM)$")


def place_partition(pid):
    """libvirt's vcpupin + emulatorpin for a VM with one dedicated core: the vCPU alone on the
    highest-numbered core, every other thread of the monitor (device, I/O, main) on the cores
    left. (flotillad's partition mode pins the vCPU the same way but keeps the device threads
    on the VM's dedicated cores: scheduler/README.md, "Partition".)"""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        sys.exit("--placement partition needs 2 or more CPUs")
    dedicated, shared = {cpus[-1]}, set(cpus[:-1])
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            comm = open("/proc/%d/task/%s/comm" % (pid, tid)).read().strip()
            os.sched_setaffinity(int(tid), dedicated if VCPU_COMM.match(comm) else shared)
        except OSError:
            pass  # a thread that just ended


def run_guest(argv, commands, placement="default"):
    """Boots, runs the bench commands, returns {(pattern, op): (mib_per_s, iops)}."""
    g = Guest(argv)
    try:
        g.until(b"probe> ", 60)
        g.command("blk info")
        res = {}
        for cmd in commands:
            if placement == "partition":
                place_partition(g.p.pid)  # again: threads started since (io_uring workers)
            m = BENCH_RE.search(g.command(cmd))
            if not m:
                raise GuestError("no bench line for %s" % cmd)
            res[(m.group(1).decode(), m.group(2).decode())] = (float(m.group(5)),
                                                              int(m.group(6)))
        return res
    finally:
        g.stop()


def bench_commands(a):
    return ["blk bench %s %s %d" % (p, o, a.seq_mib if p == "seq" else a.rand_mib)
            for p, o in a.rows]


def qemu_argv(a, image, fmt):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=on", "-enable-kvm",
            "-cpu", "host,-arch-capabilities", "-m", "%dM" % a.memory_mib, "-smp", "1",
            "-name", "bench,debug-threads=on", "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-no-reboot",
            "-kernel", a.probe, "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
            "-global", "virtio-mmio.force-legacy=false",
            "-drive", "file=%s,if=none,id=d0,format=%s,cache=none,aio=%s" % (image, fmt,
                                                                             a.qemu_aio),
            "-device", "virtio-blk-device,drive=d0,serial=bench"]


def ours_argv(a, image, fmt, vmm=None):
    disk = image + ("" if fmt == "raw" else ",format=" + fmt) + ",serial=bench,direct"
    return [vmm or a.vmm, "--kernel", a.probe, "--memory-mib", str(a.memory_mib), "--disk", disk]


def ours_support(a):
    """None if flotilla-vmm takes --disk, else why not."""
    if not os.access(a.vmm, os.X_OK):
        return "n/a (flotilla-vmm not built)"
    h = subprocess.run([a.vmm, "--help"], capture_output=True, text=True)
    if "--disk" not in h.stdout + h.stderr:
        return "n/a (device not built)"
    return None


def host_run(a, image, pattern, op):
    mib = a.seq_mib if pattern == "seq" else a.rand_mib
    out = subprocess.run([a.host_io, image, pattern, op, str(mib)], capture_output=True,
                         text=True, check=True).stdout
    m = HOST_RE.search(out)
    return float(m.group(5)), int(m.group(6))


def make_images(a, work):
    raw = os.path.join(work, "disk.raw")
    with open(raw, "wb") as f:
        f.truncate(a.image_mib << 20)
    # Real data in every block, so reads reach the disk (not holes or unwritten extents).
    subprocess.run([a.host_io, raw, "seq", "write", str(a.image_mib)], check=True,
                   capture_output=True)
    images = {"raw": raw}
    if "qcow2" in a.formats:
        q = os.path.join(work, "disk.qcow2")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, q], check=True)
        images["qcow2"] = q
    os.sync()
    return images


def fmt_cell(row, v):
    if isinstance(v, str):
        return v
    mibps, iops = v
    return "%.1f MiB/s" % mibps if row[0] == "seq" else "%d IOPS" % iops


def value(row, v):
    return v[0] if row[0] == "seq" else v[1]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", "--build-dir", dest="build", default=os.path.join(root, "build"),
                    help="build tree with vmm/flotilla-vmm, guest/probe/probe.elf, host_io")
    ap.add_argument("--baseline", default="",
                    help="another flotilla-vmm binary (e.g. an older build) run beside ours in "
                         "every round: a 'base' column and ours/base")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seq-mib", type=int, default=256, help="MiB per seq row")
    ap.add_argument("--rand-mib", type=int, default=32, help="MiB per rand row (x256 requests)")
    ap.add_argument("--image-mib", type=int, default=256)
    ap.add_argument("--memory-mib", type=int, default=128)
    ap.add_argument("--formats", default="raw,qcow2")
    ap.add_argument("--rows", default=",".join("%s-%s" % r for r in ROWS),
                    help="which rows, e.g. seq-read,rand-write (A/B runs of a few rows)")
    ap.add_argument("--qemu-aio", default="io_uring", help="io_uring | native | threads")
    ap.add_argument("--dir", default=None,
                    help="where the images go (the file system under test)")
    ap.add_argument("--placement", choices=("default", "partition"), default="default",
                    help="default: threads where the kernel puts them; partition: the vCPU "
                         "alone on the last core and the monitor's other threads on the rest, "
                         "for both VMMs (libvirt's vcpupin + emulatorpin)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    a = ap.parse_args()
    a.formats = a.formats.split(",")
    names = {"%s-%s" % r: r for r in ROWS}
    if any(r not in names for r in a.rows.split(",")):
        sys.exit("--rows: a comma-separated subset of " + ",".join(names))
    a.rows = [r for r in ROWS if "%s-%s" % r in a.rows.split(",")]
    if a.dir is None:
        a.dir = os.path.join(a.build, "bench-disk")
    a.vmm = os.path.join(a.build, "vmm/flotilla-vmm")
    a.probe = os.path.join(a.build, "guest/probe/probe.elf")
    a.host_io = os.path.join(a.build, "bench/disk/host_io")
    if max(a.seq_mib, a.rand_mib) > a.image_mib:
        sys.exit("--image-mib must cover --seq-mib and --rand-mib")
    os.makedirs(a.dir, exist_ok=True)
    fs_type = subprocess.run(["stat", "-f", "-c", "%T", a.dir], capture_output=True,
                             text=True).stdout.strip()
    ours_na = ours_support(a)
    who = ["host", "ours", "qemu"] + (["base"] if a.baseline else [])
    samples = {(f, r, w): [] for f in a.formats for r in a.rows for w in who}
    notes = {}
    cmds = bench_commands(a)
    for i in range(a.runs):
        work = tempfile.mkdtemp(prefix="run-", dir=a.dir)
        try:
            images = make_images(a, work)
            for f in a.formats:
                # Every contender takes every slot equally often (rotation): the first guest
                # after the images are made runs measurably slower here (raw seq-read 0.80,
                # rand-read 0.93 when the same binary always went first vs always second), so
                # a fixed slot would bias the comparison.
                order = ["qemu", "ours"] + (["base"] if a.baseline else [])
                k = i % len(order)
                order = order[k:] + order[:k]
                for w in order:
                    if w in ("ours", "base") and ours_na:
                        continue
                    if (f, w) in notes:
                        continue
                    if w == "base":
                        argv = ours_argv(a, images[f], f, a.baseline)
                    else:
                        argv = (ours_argv if w == "ours" else qemu_argv)(a, images[f], f)
                    try:
                        res = run_guest(argv, cmds, a.placement)
                    except GuestError as e:
                        if w in ("ours", "base"):  # e.g. qcow2 not supported: say so, go on
                            notes[(f, w)] = "n/a (%s)" % str(e).splitlines()[0][:60]
                            print("  %s %s: %s" % (w, f, e), flush=True)
                            continue
                        raise
                    for r in a.rows:
                        samples[(f, r, w)].append(res[r])
                for r in a.rows:
                    samples[(f, r, "host")].append(host_run(a, images[f], *r))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("run %d/%d done" % (i + 1, a.runs), flush=True)

    def med(f, r, w):
        s = samples[(f, r, w)]
        if not s:
            return notes.get((f, w), ours_na if w in ("ours", "base") else "n/a")
        return (statistics.median(x[0] for x in s), statistics.median(x[1] for x in s))

    def ratio(x, y, r):
        if isinstance(x, str) or isinstance(y, str):
            return "—"
        return "%.2f" % (value(r, x) / value(r, y))

    def rounds(f, r, w, other):
        # (w, other) per round, run back to back: a shared host's load swings within seconds,
        # so comparing within a round says more than two medians do. None if unpaired.
        x, y = samples[(f, r, w)], samples[(f, r, other)]
        if not x or len(x) != len(y):
            return None
        return [(value(r, p), value(r, q)) for p, q in zip(x, y)]

    def paired(f, r, w, other):
        # The median of the per-round ratios: the host's own speed drifts by 10-25 % within
        # minutes here, which pairing cancels and a ratio of two medians keeps.
        pairs = rounds(f, r, w, other)
        return "—" if pairs is None else "%.2f" % statistics.median(p / q for p, q in pairs)

    def won(f, r, w, other):
        # Rounds in which w beat `other`.
        pairs = rounds(f, r, w, other)
        return "—" if pairs is None else "%d/%d" % (sum(p > q for p, q in pairs), len(pairs))

    title = ("median of %d runs; seq %d MiB in 1 MiB requests (QD 4), rand %d MiB in 4 KiB "
             "requests (QD 32); images %d MiB on %s (%s); guest 128 MiB, 1 vCPU; QEMU "
             "cache=none,aio=%s; ours --disk ...,direct; threads placed: %s" %
             (a.runs, a.seq_mib, a.rand_mib, a.image_mib, a.dir, fs_type, a.qemu_aio,
              a.placement))
    header = ("| image | row | host O_DIRECT | flotilla-vmm | QEMU microvm | ours/host | "
              "ours/host paired | ours/QEMU | rounds ours > QEMU | QEMU/host | "
              "QEMU/host paired |")
    if a.baseline:
        header += " baseline | ours/baseline | rounds ours > baseline |"
    lines = [header, "|---" * 11 + "|" + ("---|---|---|" if a.baseline else "")]
    names = {"seq": "%s 1 MiB", "rand": "%s 4 KiB"}
    for f in a.formats:
        for r in a.rows:
            h, o, q = (med(f, r, w) for w in who[:3])
            rowname = names[r[0]] % ("%s-%s" % r)
            line = "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                f, rowname, fmt_cell(r, h), fmt_cell(r, o), fmt_cell(r, q), ratio(o, h, r),
                paired(f, r, "ours", "host"), ratio(o, q, r), won(f, r, "ours", "qemu"),
                ratio(q, h, r), paired(f, r, "qemu", "host"))
            if a.baseline:
                b = med(f, r, "base")
                line += " %s | %s | %s |" % (fmt_cell(r, b), ratio(o, b, r),
                                            won(f, r, "ours", "base"))
            lines.append(line)
    print()
    print(title)
    print("\n".join(lines))
    raw_lines = []
    for k, v in samples.items():
        if v:
            raw_lines.append("  %-6s %-11s %-4s %s" % (k[0], "%s-%s" % k[1], k[2], " ".join(
                "%.1f/%d" % x for x in v)))
    print("\nall runs (MiB/s/IOPS):\n" + "\n".join(raw_lines))
    if a.no_write:
        return
    cmd = "python3 bench/disk/run.py " + " ".join(sys.argv[1:])
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "w") as out:
        out.write("# bench/disk results\n\n")
        out.write("Written by `bench/disk/run.py` (see README.md for what each column is).\n\n")
        out.write("Command (after `cmake --build %s --target flotilla-vmm flotilla_probe "
                  "host_io`):\n\n```\n%s\n```\n\n" % (os.path.relpath(a.build, root),
                                                         cmd.strip()))
        out.write("%s, %s. Load average at the end: %s.\n\n" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), title,
            " ".join(open("/proc/loadavg").read().split()[:3])))
        out.write("\n".join(lines) + "\n\n")
        out.write("Goals (issue 5): flotilla-vmm ≥ 0.90 of the host on the seq rows, ahead of "
                  "QEMU on every row. Why the figures are what they are: README.md, "
                  "\"Findings\".\n\n")
        out.write("All runs (MiB/s/IOPS per round):\n\n```\n%s\n```\n" % "\n".join(raw_lines))


if __name__ == "__main__":
    main()
