#!/usr/bin/env python3
"""bench/net: probe guests on our virtio-net beside QEMU's, and the host's own limit.

In a network namespace of its own (the script re-runs itself under `unshare --net`), one bridge
with host address 10.99.0.1/24 and four TAPs (vnet_hdr, txqueuelen 4096): a pair of guests per
implementation, all four booted for a round (an idle probe halts). For each frame size (64, 512,
1500 bytes, Ethernet header included) and each implementation:
  guest→guest  guest A `net send` COUNT numbered frames to guest B's MAC while B runs
               `net recv`; frames/s and Gbit/s are what B received (first to last frame),
               loss = sent - received.
  guest→host   guest A sends to the bridge's MAC; bench/net/veth_frames --recv counts them on
               the bridge (a TPACKET_V3 ring, timed by the kernel's arrival stamps: a sink that
               is not woken per frame, so the row measures the sender's path).
  ping         guest A `net ping` guest B, 50 echoes: average round trip.
--baseline VMM adds a third pair on another flotilla-vmm binary (A/B of a change, or A/A with a
copy of the same one) and an A/B table; --ping-only BATCHES runs only the ping row, alternating
batches of 50 echoes (prints, writes nothing).
Implementations: flotilla-vmm --nic (ours) and qemu-system-x86_64 -M microvm with
-netdev tap,vhost=off + virtio-net-device (/dev/vhost-net is absent here). The limit:
veth_frames SIZE COUNT, two host processes exchanging the same frames over a veth pair with
packet sockets (one send/recv per frame). Each row runs for one implementation right after the
other (order alternating row by row and round by round), so the host's load, which swings 2-3x
within seconds on a shared host, hits both alike. Medians of --runs rounds. Writes
bench/net/RESULTS.md unless --no-write.
"""
import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import time

SIZES = [64, 512, 1500]
RECV_RE = re.compile(rb"net recv received=(\d+) lost=(\d+) bad=(\d+) out_of_order=(\d+) "
                     rb"ms=(\d+) frames_per_s=(\d+) mbit_per_s=([\d.]+)")
PING_RE = re.compile(rb"net ping ip=\S+ sent=(\d+) received=(\d+) rtt_min_us=(\d+) "
                     rb"rtt_avg_us=(\d+) rtt_max_us=(\d+)")
HOST_RE = re.compile(r"host recv received=(\d+) ms=(\d+) frames_per_s=(\d+) gbit_per_s=([\d.]+)")
VETH_RE = re.compile(r"veth size=(\d+) sent=(\d+) received=(\d+) lost=(\d+) ms=(\d+) "
                     r"frames_per_s=(\d+) gbit_per_s=([\d.]+)")
# Each implementation's pair: (tap, MAC, address) for guest A and guest B.
PAIRS = {
    "ours": (("flt-ba-0", "02:f1:0a:00:99:0a", "10.99.0.2/24"),
             ("flt-bb-0", "02:f1:0a:00:99:0b", "10.99.0.3/24")),
    "qemu": (("flt-bc-0", "02:f1:0a:00:99:1a", "10.99.0.4/24"),
             ("flt-bd-0", "02:f1:0a:00:99:1b", "10.99.0.5/24")),
    # --baseline: another flotilla-vmm binary (A/B of a change, or A/A with the same one).
    "base": (("flt-be-0", "02:f1:0a:00:99:2a", "10.99.0.6/24"),
             ("flt-bf-0", "02:f1:0a:00:99:2b", "10.99.0.7/24")),
}


class GuestError(RuntimeError):
    pass


class Guest:
    """A monitor process with the probe's console on stdin/stdout."""

    def __init__(self, argv, name="", env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        self.buf = b""
        self.name = name

    def until(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise GuestError("%s: timeout waiting for %r: %r" % (self.name, needle,
                                                                    self.buf[-300:]))
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                self.p.wait()
                err = self.p.stderr.read().decode(errors="replace").strip()
                raise GuestError("%s: monitor exited (%s): %s" % (self.name, self.p.returncode,
                                                                  err[-400:]))
            self.buf += data
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def command(self, line, timeout=120):
        """Runs line; returns its output whatever the status (OK or ERR)."""
        self.send(line)
        return self.until(b"probe> ", timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def sh(*cmd):
    subprocess.run(cmd, check=True)


def setup_network():
    with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
        f.write("1")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "fltbr0", "type", "bridge")
    sh("ip", "addr", "add", "10.99.0.1/24", "dev", "fltbr0")
    sh("ip", "link", "set", "fltbr0", "up")
    for tap in [g[0] for pair in PAIRS.values() for g in pair]:
        sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr")
        sh("ip", "link", "set", tap, "txqueuelen", "4096", "master", "fltbr0", "up")
    shown = subprocess.run(["ip", "-o", "link", "show", "fltbr0"], capture_output=True,
                           text=True, check=True).stdout
    return re.search(r"link/ether ([0-9a-f:]{17})", shown).group(1)


def ours_argv(a, tap, mac, ip):
    return [a.vmm, "--kernel", a.probe, "--memory-mib", "64", "--cmdline", "ip=" + ip,
            "--nic", "%s,mac=%s" % (tap, mac)]


def base_argv(a, tap, mac, ip):
    return [a.baseline] + ours_argv(a, tap, mac, ip)[1:]


def qemu_argv(a, tap, mac, ip):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=on", "-enable-kvm",
            "-cpu", "host,-arch-capabilities", "-m", "64M", "-smp", "1", "-nodefaults",
            "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", a.probe, "-append", "ip=" + ip,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
            "-global", "virtio-mmio.force-legacy=false",
            "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=off" % tap,
            "-device", "virtio-net-device,netdev=n0,mac=%s" % mac]


IMPL_ARGV = {"ours": ours_argv, "qemu": qemu_argv, "base": base_argv}


def round_order(impls, r):
    """Round r's order: every implementation takes every slot in turn (with two: alternating)."""
    return impls[r % len(impls):] + impls[:r % len(impls)]


def boot_pairs(a, order, guests):
    """Boots each implementation's pair into `guests` (so the caller's cleanup sees every one
    started) and warms ARP with three echoes from A to B."""
    for name in order:
        guests[name] = [Guest(IMPL_ARGV[name](a, *g), "%s guest %s" % (name, "AB"[i]))
                        for i, g in enumerate(PAIRS[name])]
    for name in order:
        for g in guests[name]:
            g.until(b"flotilla-probe ready", 30)
            g.until(b"probe> ", 30)
        guests[name][0].command("net ping %s 3" % PAIRS[name][1][2].split("/")[0])


def run_round(a, order, bridge_mac):
    """Boots both implementations' pairs (idle probes halt), then runs each row for one
    implementation right after the other (the order alternating row by row), so a change in
    the host's load hits both alike. Returns {impl: {("g2g"|"g2h", size): (fps, gbit, loss),
    ("ping",): us}}."""
    guests = {}
    out = {name: {} for name in order}
    try:
        boot_pairs(a, order, guests)
        row = 0
        for size in SIZES:
            for kind in ("g2g", "g2h"):
                names = order if row % 2 == 0 else list(reversed(order))
                row += 1
                for name in names:
                    ga, gb = guests[name]
                    if kind == "g2g":
                        gb.send("net recv %d 5" % a.count)
                        time.sleep(0.3)
                        ga.command("net send %s %d %d" % (PAIRS[name][1][1], a.count, size))
                        m = RECV_RE.search(gb.until(b"probe> ", 60))
                        if not m:
                            raise GuestError("no net recv line")
                        fps = int(m.group(6))
                        out[name][("g2g", size)] = (fps, fps * size * 8 / 1e9, int(m.group(2)))
                        continue
                    host = subprocess.Popen([a.veth, "--recv", "fltbr0", str(a.count), "3"],
                                            stdout=subprocess.PIPE, text=True)
                    host.stdout.readline()  # "host recv ready"
                    ga.command("net send %s %d %d" % (bridge_mac, a.count, size))
                    m = HOST_RE.search(host.communicate(timeout=60)[0])
                    received = int(m.group(1))
                    out[name][("g2h", size)] = (int(m.group(3)), float(m.group(4)),
                                                a.count - received)
        for name in order:
            ga, gb = guests[name]
            m = PING_RE.search(ga.command("net ping %s 50" % PAIRS[name][1][2].split("/")[0]))
            out[name][("ping",)] = int(m.group(4)) if m else None
    finally:
        for pair in guests.values():
            for g in pair:
                g.stop()
    return out


def ping_round(a, order, batches):
    """Boots both pairs, then alternates `net ping` batches of 50 echoes between them.
    Returns {impl: [average µs per batch]}."""
    guests = {}
    out = {name: [] for name in order}
    try:
        boot_pairs(a, order, guests)
        for b in range(batches):
            for name in (order if b % 2 == 0 else list(reversed(order))):
                got = guests[name][0].command("net ping %s 50" % PAIRS[name][1][2].split("/")[0])
                m = PING_RE.search(got)
                out[name].append(int(m.group(4)) if m else None)
    finally:
        for pair in guests.values():
            for g in pair:
                g.stop()
    return out


def ping_only(a):
    """--ping-only: the ping row alone, many alternated batches; prints, writes nothing."""
    ours, qemu = [], []
    for r in range(a.runs):
        order = round_order(["ours", "qemu"], r)
        got = ping_round(a, order, a.ping_only)
        ours += got["ours"]
        qemu += got["qemu"]
        print("round %d ours=%s qemu=%s" % (r + 1, got["ours"], got["qemu"]), flush=True)
    pairs = [(o, q) for o, q in zip(ours, qemu) if o is not None and q is not None]
    won = sum(1 for o, q in pairs if o < q)
    mo, mq = median(ours), median(qemu)
    print("ping guest→guest average µs: ours median %s, QEMU median %s, QEMU/ours %.2f, "
          "ours faster in %d/%d batches; load %s" % (mo, mq, mq / mo, won, len(pairs),
                                                     open("/proc/loadavg").read().split()[0]))


def host_limit(a):
    out = {}
    for size in SIZES:
        r = subprocess.run([a.veth, str(size), str(a.count)], capture_output=True, text=True,
                           check=True).stdout
        m = VETH_RE.search(r)
        fps = int(m.group(6))
        out[size] = (fps, float(m.group(7)), int(m.group(4)))
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = os.path.join(root, "build")
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=20000, help="frames per row")
    ap.add_argument("--build-dir", default=build,
                    help="build tree the three binaries come from (default: build/)")
    ap.add_argument("--vmm", help="default: BUILD_DIR/vmm/flotilla-vmm")
    ap.add_argument("--probe", help="default: BUILD_DIR/guest/probe/probe.elf")
    ap.add_argument("--veth", help="default: BUILD_DIR/bench/net/veth_frames")
    ap.add_argument("--baseline", default="",
                    help="another flotilla-vmm binary run in every round too (A/B table)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--ping-only", type=int, metavar="BATCHES", default=0,
                    help="only the ping row: BATCHES alternated batches of 50 per round")
    a = ap.parse_args()
    a.vmm = a.vmm or os.path.join(a.build_dir, "vmm/flotilla-vmm")
    a.probe = a.probe or os.path.join(a.build_dir, "guest/probe/probe.elf")
    a.veth = a.veth or os.path.join(a.build_dir, "bench/net/veth_frames")
    if os.environ.get("FLOTILLA_BENCH_NETNS") != "1":
        env = dict(os.environ, FLOTILLA_BENCH_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", sys.executable] + sys.argv, env)
    for path in (a.vmm, a.probe, a.veth) + ((a.baseline,) if a.baseline else ()):
        if not os.path.exists(path):
            sys.exit("missing %s (build first: cmake --build build)" % path)
    bridge_mac = setup_network()
    if a.ping_only:
        ping_only(a)
        return
    results = {"ours": [], "qemu": [], "base": [], "host": []}
    round_lines = []
    impls = ["ours", "qemu"] + (["base"] if a.baseline else [])
    for r in range(a.runs):
        order = round_order(impls, r)
        got_round = run_round(a, order, bridge_mac)
        for name in order:
            results[name].append(got_round[name])
            got = results[name][-1]
            round_lines.append("round %d %s: %s ping=%s" % (r + 1, name, " ".join(
                "%s%d=%d" % (k, n, got[(k, n)][0]) for k in ("g2g", "g2h") for n in SIZES),
                got.get(("ping",))))
            print(round_lines[-1], flush=True)
        results["host"].append(host_limit(a))
        print("round %d done" % (r + 1), flush=True)

    def med(name, key, i):
        return median([run[key][i] if run.get(key) else None for run in results[name]])

    def ahead(key, lower_is_better=False, other="qemu"):
        """Rounds in which ours beat the other on this row, of the rounds both measured."""
        pairs = [(o.get(key), q.get(key)) for o, q in zip(results["ours"], results[other])]
        pairs = [(o if isinstance(o, int) else o[0], q if isinstance(q, int) else q[0])
                 for o, q in pairs if o is not None and q is not None]
        won = sum(1 for o, q in pairs if (o < q if lower_is_better else o > q))
        return "%d/%d" % (won, len(pairs))

    lines = ["| row | host veth (limit) | flotilla-vmm | QEMU (vhost off) | ours/QEMU | "
             "ours ahead in (rounds) | ours/host |",
             "|---|---|---|---|---|---|---|"]
    for kind, label in (("g2g", "guest→guest"), ("g2h", "guest→host")):
        for size in SIZES:
            host = median([run[size][0] for run in results["host"]])
            ours = med("ours", (kind, size), 0)
            qemu = med("qemu", (kind, size), 0)
            loss_o = med("ours", (kind, size), 2)
            loss_q = med("qemu", (kind, size), 2)
            lines.append("| %s %d B frames/s (Gbit/s; lost of %d) | %d (%.3f) | %d (%.3f; %d) | "
                         "%d (%.3f; %d) | %.2f | %s | %.2f |" % (
                             label, size, a.count, host, host * size * 8 / 1e9, ours,
                             ours * size * 8 / 1e9, loss_o, qemu, qemu * size * 8 / 1e9, loss_q,
                             ours / qemu if qemu else 0, ahead((kind, size)),
                             ours / host if host else 0))
    ping_o = median([run[("ping",)] for run in results["ours"]])
    ping_q = median([run[("ping",)] for run in results["qemu"]])
    lines.append("| ping guest→guest, average µs (lower is better) | - | %s | %s | %s | %s | - |" % (
        ping_o, ping_q, "%.2f" % (ping_q / ping_o) if ping_o and ping_q else "-",
        ahead(("ping",), lower_is_better=True)))
    if a.baseline:
        lines += ["", "A/B against --baseline %s (same rounds, same order rotation):" % a.baseline,
                  "", "| row | flotilla-vmm | baseline | ours/baseline | ours ahead in (rounds) |",
                  "|---|---|---|---|---|"]
        for kind in ("g2g", "g2h"):
            for size in SIZES:
                ours, base = med("ours", (kind, size), 0), med("base", (kind, size), 0)
                lines.append("| %s %d B frames/s | %d | %d | %.2f | %s |" % (
                    kind, size, ours, base, ours / base if base else 0,
                    ahead((kind, size), other="base")))
        ping_b = median([run[("ping",)] for run in results["base"]])
        lines.append("| ping µs | %s | %s | %s | %s |" % (
            ping_o, ping_b, "%.2f" % (ping_b / ping_o) if ping_o and ping_b else "-",
            ahead(("ping",), lower_is_better=True, other="base")))
    load = open("/proc/loadavg").read().split()[0]
    text = "\n".join(lines) + (
        "\n\nMedians of %d rounds, %d frames per row, load average %s at the end. ours/QEMU is "
        "ours divided by QEMU's rate (for ping: QEMU's time divided by ours), so > 1 means ahead."
        "\nCommand: `python3 bench/net/run.py%s --runs %d --count %d`\n" % (
            a.runs, a.count, load,
            "" if os.path.abspath(a.build_dir) == build else " --build-dir " + a.build_dir,
            a.runs, a.count))
    print(text)
    if not a.no_write:
        with open(os.path.join(root, "bench/net/RESULTS.md"), "w") as f:
            f.write("# bench/net results\n\n" + text + "\nEvery round (frames/s; ping µs), in "
                    "the order run:\n\n```\n" + "\n".join(round_lines) + "\n```\n")


if __name__ == "__main__":
    main()
