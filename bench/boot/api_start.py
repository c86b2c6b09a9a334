#!/usr/bin/env python3
"""bench/boot/api_start: start through flotillad's REST API, beside exec-to-marker, one run.

Starts a real flotillad (temp state dir, 127.0.0.1:0, --vmm-binary build/vmm/flotilla-vmm) and
measures, interleaved on the same machine:
(1) POST /v1/vms/{id}/start, sent on an already-open keep-alive HTTP connection, -> the probe's
    "flotilla-probe ready" in <state>/vms/<id>/console.log (the file the monitor appends the
    guest console to), seen with inotify (IN_MODIFY on the VM's folder, then a read from the
    offset the file had before the start); between runs POST .../force-stop and wait for its
    operation. Beside it, run.py's (a): flotilla-vmm exec -> marker and QEMU microvm exec ->
    marker, same probe, memory and command line.
(2) 50 VMs (memory_mib 32) started back to back (50 POST start on one connection): time from the
    first POST to the last marker (inotify on every VM folder) and to the last start operation
    succeeding (from the operations' updated_at, read after the burst, so no polling during it).
    Then all 50 are force-stopped. Repeated --bursts times.
"""
import argparse
import ctypes
import datetime
import http.client
import json
import os
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as boot  # noqa: E402  (run.py's exec-to-marker code)

MARKER = boot.MARKER
IN_MODIFY, IN_CREATE, IN_NONBLOCK, IN_CLOEXEC = 0x2, 0x100, 0o4000, 0o2000000
FIRECRACKER_PER_CORE = 5.0  # published, Firecracker docs/design.md; not measured here


class Daemon:
    def __init__(self, a):
        self.state = tempfile.mkdtemp(prefix="flotilla-bench-boot-")
        self.err = open(os.path.join(self.state, "flotillad.stderr"), "wb")
        self.p = subprocess.Popen(
            [a.flotillad, "--state-dir", self.state, "--listen", "127.0.0.1:0", "--vmm-binary",
             a.vmm], stdout=subprocess.PIPE, stderr=self.err)
        self.port = self.token = None
        deadline = time.monotonic() + 20
        while self.port is None or self.token is None:
            if time.monotonic() > deadline:
                raise RuntimeError("flotillad did not print its port and token")
            line = self.p.stdout.readline().decode()
            if not line:
                raise RuntimeError("flotillad exited at start; see %s" % self.err.name)
            if line.startswith("admin token: "):
                self.token = line.split(": ", 1)[1].strip()
            if line.startswith("listening on http://127.0.0.1:"):
                self.port = int(line.rsplit(":", 1)[1])
        threading.Thread(target=lambda: self.p.stdout.read(), daemon=True).start()

    def stop(self):
        self.p.terminate()
        self.p.wait(20)
        self.err.close()


class Api:
    def __init__(self, d):
        self.c = http.client.HTTPConnection("127.0.0.1", d.port)
        self.c.connect()  # open before the first timed request
        self.h = {"Authorization": "Bearer " + d.token, "Content-Type": "application/json"}

    def __call__(self, method, path, body=None, want=(200, 201, 202, 204)):
        self.c.request(method, path, body=None if body is None else json.dumps(body),
                       headers=self.h)
        r = self.c.getresponse()
        data = r.read()
        if r.status not in want:
            raise RuntimeError("%s %s -> %d %s" % (method, path, r.status, data[:300]))
        return json.loads(data) if data else None

    def wait_op(self, op, timeout=30.0):
        deadline = time.monotonic() + timeout
        while op["state"] in ("pending", "running"):
            if time.monotonic() > deadline:
                raise RuntimeError("operation %s still %s" % (op["id"], op["state"]))
            time.sleep(0.01)
            op = self("GET", "/v1/operations/" + op["id"])
        if op["state"] != "succeeded":
            raise RuntimeError("operation %s %s: %s" % (op["kind"], op["state"], op["error"]))
        return op


class MarkerWatch:
    """inotify on <state>/vms (IN_CREATE) and on each VM folder (IN_MODIFY): marker per VM."""

    def __init__(self, state, ids):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.vms = os.path.join(state, "vms")
        os.makedirs(self.vms, exist_ok=True)  # flotillad creates it; exist_ok keeps it its own
        self.top = self._watch(self.vms, IN_CREATE)
        self.ids, self.wd = set(ids), {}
        for i in ids:
            if os.path.isdir(os.path.join(self.vms, i)):
                self.wd[self._watch(os.path.join(self.vms, i), IN_MODIFY)] = i

    def _watch(self, path, mask):
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)
        return wd

    def _log(self, i):
        return os.path.join(self.vms, i, "console.log")

    def arm(self, ids):
        """Call before the starts: remembers where each console log ends now."""
        self.pos, self.buf, self.seen = {}, {}, {}
        for i in ids:
            try:
                self.pos[i] = os.path.getsize(self._log(i))
            except FileNotFoundError:
                self.pos[i] = 0
            self.buf[i] = b""

    def _check(self, i, now):
        if i in self.seen or i not in self.pos:
            return
        try:
            with open(self._log(i), "rb") as f:
                f.seek(self.pos[i])
                data = f.read()
        except FileNotFoundError:
            return
        self.pos[i] += len(data)
        self.buf[i] = self.buf[i][-len(MARKER):] + data
        if MARKER in self.buf[i]:
            self.seen[i] = now

    def wait(self, timeout=60.0):
        deadline = time.perf_counter() + timeout
        for i in list(self.pos):
            self._check(i, time.perf_counter())
        while len(self.seen) < len(self.pos):
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise RuntimeError("marker missing for %d VMs" % (len(self.pos) - len(self.seen)))
            now = time.perf_counter()
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            touched, off = set(), 0
            while off < len(data):
                wd, mask, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0").decode()
                off += 16 + n
                if wd == self.top and name in self.ids and name not in self.wd.values():
                    self.wd[self._watch(os.path.join(self.vms, name), IN_MODIFY)] = name
                    touched.add(name)
                elif wd in self.wd and name == "console.log":
                    touched.add(self.wd[wd])
            for i in touched:
                self._check(i, now)
        return dict(self.seen)


def vm_body(a, name, mib):
    return {"name": name, "memory_mib": mib,
            "boot": {"kernel": a.probe, "cmdline": a.cmdline}}


def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def api_start_once(api, watch, vm):
    watch.arm([vm])
    t0 = time.perf_counter()
    op = api("POST", "/v1/vms/%s/start" % vm)
    t_resp = time.perf_counter()
    t_mark = watch.wait()[vm]
    api.wait_op(op)
    api.wait_op(api("POST", "/v1/vms/%s/force-stop" % vm))
    return t_mark - t0, t_resp - t0


def burst(api, watch, ids):
    watch.arm(ids)
    wall0 = time.time()
    t0 = time.perf_counter()
    ops = [api("POST", "/v1/vms/%s/start" % i) for i in ids]
    t_posted = time.perf_counter() - t0
    seen = watch.wait(timeout=120)
    t_markers = max(seen.values()) - t0
    done = [api.wait_op(op, timeout=60) for op in ops]
    t_ops = max(rfc3339(op["updated_at"]) for op in done) - wall0
    stops = [api("POST", "/v1/vms/%s/force-stop" % i) for i in ids]
    for op in stops:
        api.wait_op(op, timeout=60)
    return t_markers, t_ops, t_posted


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--memory-mib", type=int, default=128)
    ap.add_argument("--burst-memory-mib", type=int, default=32)
    ap.add_argument("--cmdline", default="console=ttyS0 bench=1")
    ap.add_argument("--keep-state", action="store_true")
    a = ap.parse_args()
    a.vmm = os.path.abspath(os.path.join(a.build, "vmm/flotilla-vmm"))
    a.probe = os.path.abspath(os.path.join(a.build, "guest/probe/probe.elf"))
    a.flotillad = os.path.abspath(os.path.join(a.build, "daemon/flotillad"))
    a.pio = 0
    mem = a.memory_mib << 20
    ours_map = lambda size, name: "flotilla-guest-ram" in name
    qemu_map = lambda size, name: name == "" and mem <= size <= mem + (8 << 20)
    cores = os.cpu_count()
    print("load average at start: %s" % loadavg(), flush=True)

    d = Daemon(a)
    try:
        api = Api(d)
        cores = api("GET", "/v1/host").get("cores", cores)
        one = api("POST", "/v1/vms", vm_body(a, "bench-api", a.memory_mib))["id"]
        ids = [api("POST", "/v1/vms", vm_body(a, "bench-burst-%02d" % n, a.burst_memory_mib))["id"]
               for n in range(a.burst)]
        watch = MarkerWatch(d.state, [one] + ids)
        api_start_once(api, watch, one)  # warm-up, not counted (first start creates the folder)

        res = {k: [] for k in ("api", "api_resp", "ours", "qemu")}
        for i in range(a.runs):
            t, tr = api_start_once(api, watch, one)
            res["api"].append(t)
            res["api_resp"].append(tr)
            res["ours"].append(boot.boot_once(boot.ours_argv(a), ours_map)[0])
            res["qemu"].append(boot.boot_once(boot.qemu_argv(a), qemu_map)[0])
            print("run %d/%d done" % (i + 1, a.runs), flush=True)
        load_mid = loadavg()

        bursts = []
        for b in range(a.bursts):
            bursts.append(burst(api, watch, ids))
            print("burst %d/%d: markers %.3f s, ops %.3f s, posted %.3f s (load %s)" %
                  ((b + 1, a.bursts) + bursts[-1] + (loadavg(),)), flush=True)
    finally:
        d.stop()
        if not a.keep_state:
            shutil.rmtree(d.state, ignore_errors=True)
    load_end = loadavg()

    m = {k: statistics.median(v) for k, v in res.items()}
    bm = statistics.median(b[0] for b in bursts)
    bo = statistics.median(b[1] for b in bursts)
    n = a.burst
    print()
    print("probe guest, cmdline %r, %d MiB (1), %d MiB x %d (2); host cores %d; load %s (mid) %s "
          "(end)" % (a.cmdline, a.memory_mib, a.burst_memory_mib, n, cores, load_mid, load_end))
    print("%-52s %12s %10s" % ("figure (median of %d)" % a.runs, "value", "ratio"))
    print("%-52s %9.1f ms %10s" % ("(1) API POST start -> boot marker (flotillad)",
                                   m["api"] * 1e3, ""))
    print("%-52s %9.1f ms %10s" % ("    POST start -> 202 response", m["api_resp"] * 1e3, ""))
    print("%-52s %9.1f ms %10.2f" % ("    exec -> marker, flotilla-vmm alone (run.py a)",
                                     m["ours"] * 1e3, m["api"] / m["ours"]))
    print("%-52s %9.1f ms %10.3f" % ("    exec -> marker, QEMU microvm (API vs QEMU)",
                                     m["qemu"] * 1e3, m["api"] / m["qemu"]))
    print("%-52s %12s %10s" % ("figure (median of %d bursts of %d)" % (a.bursts, n), "value", ""))
    print("%-52s %10.3f s %10s" % ("(2) first POST -> all %d markers" % n, bm, ""))
    print("%-52s %8.1f /s %10s" % ("    guests started per second (to marker)", n / bm, ""))
    print("%-52s %8.1f /s %10.2f" % ("    per host core (vs Firecracker's published 5)",
                                     n / bm / cores, n / bm / cores / FIRECRACKER_PER_CORE))
    print("%-52s %10.3f s %10s" % ("    first POST -> all %d start operations succeeded" % n, bo,
                                   ""))
    print("%-52s %8.1f /s %10.2f" % ("    per host core, to operation success",
                                     n / bo / cores, n / bo / cores / FIRECRACKER_PER_CORE))
    print("\nall runs (s):")
    for k, v in res.items():
        print("  %-9s %s" % (k, " ".join("%.6g" % x for x in v)))
    print("  bursts (markers, ops succeeded, all POSTs answered): %s" %
          "; ".join("%.4g %.4g %.4g" % b for b in bursts))


if __name__ == "__main__":
    main()
