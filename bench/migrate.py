"""Checkpoint/restore and migration of containers whose memory is being written, in one run.

    /opt/hutch/venv/bin/python bench/migrate.py [--sizes 64,256,1024] [--quick] [--json]

For each size N MiB, a static `memwriter N` (bench/memwriter.c, built with gcc -static into
the workspace) runs in a fresh busybox container, dirtying all N MiB all the time and
writing its pass count to /run/count. Measured, each once:

* checkpoint + restore on one host: `hutch checkpoint` + `hutch restore` (the dump and
  restore ms hutch reports, and the frozen time: from the start of the checkpoint command
  until the restore command returns), side by side with LXC's `lxc-checkpoint -s` / `-r`
  of an LXC busybox container running the same memwriter;
* `hutch migrate ID TARGET` offline and `--online` to a second hutch "host" on this machine
  (tests/integration/migrate_rig.py: a network namespace with its own sshd and hutch root;
  the source hutch runs in a namespace of its own): the downtime and total it reports.

After every restore and online migration the memwriter must have gone on (same PID inside,
counter above its value before the freeze). Everything made here (containers, hutch roots
and their hutchds, cgroups, namespaces, sshd, LXC containers, the workspace) is removed at
the end, also on failure, Ctrl-C or SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from lifecycle import (
    HUTCH,
    Hutch,
    Lxc,
    bytecode_env,
    cgroup_mounts,
    cleanup_always,
    compile_hutch,
    leftover_cgroups,
    log,
    remove_tree,
)

BENCH = Path(__file__).resolve().parent
RIG_DIR = BENCH.parent / "tests" / "integration"  # migrate_rig.py, netns.py
MEMWRITER_C = BENCH / "memwriter.c"
CRIU_BIN = "/opt/hutch/criu/bin"
NSENTER = "nsenter"
COMMAND_TIMEOUT = 120.0
MIGRATE_TIMEOUT = 300.0
READY_TIMEOUT = 60.0  # the memwriter's first count (allocation of 1 GiB included)
GOES_ON_TIMEOUT = 15.0  # the count must grow again within this after a restore
COUNTER = "/run/count"
DEFAULT_SIZES = (64, 256, 1024)
QUICK_SIZES = (64,)

# LXC's busybox container as CRIU can dump and restore it here (see bench/README.md)
LXC_CONFIG = "lxc.net.0.type = empty\nlxc.console.path = none\n"


class BenchError(Exception):
    """One measurement failed; the message says where."""


@dataclass
class Done:
    ms: float
    rc: int
    stdout: str
    stderr: str

    def ok(self, what: str) -> Done:
        if self.rc != 0:
            tail = " | ".join((self.stderr.strip() or self.stdout.strip()).splitlines()[-3:])
            raise BenchError(f"{what}: exit {self.rc}: {tail}")
        return self


def sh(argv: list[str], env: dict[str, str], timeout: float = COMMAND_TIMEOUT) -> Done:
    """Run one command to completion, timed as a whole process."""
    # output into files, not pipes: a daemon a command leaves behind (lxc-checkpoint -r's
    # monitor) may keep them open, and a pipe would then never reach its end
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            p = subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise BenchError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from None
        ms = (time.perf_counter() - t0) * 1000
        out.seek(0)
        err.seek(0)
        text = (out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    return Done(ms, p.returncode, *text)


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError(f"gave up waiting for {what} ({timeout:.0f}s)")
        time.sleep(0.1)


# --- the tools ----------------------------------------------------------------------------


class NsHutch(Hutch):
    """hutch on its own root, its CLI (and so the hutchd it starts) in one network namespace."""

    def __init__(self, name: str, base: Path, env: dict[str, str], netns: str) -> None:
        super().__init__(base, env)
        self.name = name
        self.prefix = [NSENTER, f"--net={netns}"]

    def argv(self, step: str, ct: str) -> list[str]:
        return [*self.prefix, *super().argv(step, ct)]

    def cmd(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Done:
        return sh([*self.prefix, HUTCH, "--root", str(self.base), *args], self.env, timeout)

    def rootfs(self, ct: str) -> Path:
        from hutch.paths import Paths

        return Paths(self.base).ct_rootfs(ct)

    def counter(self, ct: str) -> int | None:
        d = self.cmd("exec", ct, "cat", COUNTER)
        return int(d.stdout) if d.rc == 0 and d.stdout.strip().isdigit() else None

    def writer_pid(self, ct: str) -> str:
        d = self.cmd("exec", ct, "pidof", "memwriter").ok(f"{self.name}: pidof in {ct}")
        return d.stdout.strip()

    def new_writer(self, ct: str, mib: int, binary: Path) -> None:
        """A fresh running container with `memwriter MIB` started in it and counting."""
        self.cmd("create", ct, "--template", "busybox").ok(f"{self.name}: create {ct}")
        self.cmd("start", ct).ok(f"{self.name}: start {ct}")
        dest = self.rootfs(ct) / "memwriter"
        shutil.copyfile(binary, dest)
        dest.chmod(0o755)
        # setsid: CRIU saves only sessions led inside the container
        line = f"setsid /memwriter {mib} {COUNTER} </dev/null >/dev/null 2>&1 &"
        self.cmd("exec", ct, "sh", "-c", line).ok(f"{self.name}: exec memwriter in {ct}")
        wait_for(lambda: (self.counter(ct) or 0) >= 3, READY_TIMEOUT, f"memwriter in {ct}")

    def goes_on(self, ct: str, before: int, pid: str) -> int:
        """The memwriter runs on (the same PID, the count above `before`): the count."""
        now = wait_for(
            lambda: (c := self.counter(ct)) is not None and c > before and c,
            GOES_ON_TIMEOUT,
            f"the memwriter's count in {ct} ({self.name}) to go on from {before}",
        )
        if self.writer_pid(ct) != pid:
            raise BenchError(f"{ct} ({self.name}): memwriter PID {pid} is gone: restarted?")
        return int(now)

    def drop(self, ct: str) -> None:
        if (self.base / "var/lib/hutch/containers" / ct).is_dir():
            self.remove(ct)


class CriuLxc(Lxc):
    """LXC busybox containers made dumpable by CRIU (see bench/README.md), CRIU on PATH."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        super().__init__(base, env)
        self.config.write_text(LXC_CONFIG)
        self.env = dict(env, PATH=f"{CRIU_BIN}:{env.get('PATH', '/usr/bin:/bin')}")

    def cmd(self, *argv: str, timeout: float = COMMAND_TIMEOUT) -> Done:
        tool, *rest = argv
        return sh([tool, "-P", str(self.base), *rest], self.env, timeout)

    def fix_up(self, ct: str) -> None:
        """No getty on a tty whose master LXC's monitor holds, no host binds of /lib
        (busybox is static), no console."""
        cfg = self.base / ct / "config"
        keep = []
        for line in cfg.read_text().splitlines():
            key, _, value = (x.strip() for x in line.partition("="))
            if key == "lxc.mount.entry" and value.split()[0] in {
                "/lib",
                "/usr/lib",
                "/lib64",
                "/usr/lib64",
            }:
                continue
            if key == "lxc.tty.max":
                line = "lxc.tty.max = 0"
            keep.append(line)
        cfg.write_text("\n".join(keep) + "\n")
        inittab = self.base / ct / "rootfs/etc/inittab"
        lines = inittab.read_text().splitlines()
        inittab.write_text("".join(x + "\n" for x in lines if not x.startswith("tty")))

    def state(self, ct: str) -> str:
        return self.cmd("lxc-info", "-n", ct, "-s", "-H").stdout.strip()

    def counter(self, ct: str) -> int | None:
        try:
            text = (self.base / ct / "rootfs" / COUNTER.lstrip("/")).read_text()
        except OSError:
            return None
        return int(text) if text.strip().isdigit() else None

    def new_writer(self, ct: str, mib: int, binary: Path) -> None:
        self.cmd("lxc-create", "-n", ct, "-t", "busybox", "-f", str(self.config)).ok(
            f"lxc-create {ct}"
        )
        self.fix_up(ct)
        (self.base / ct / "rootfs/run").mkdir(exist_ok=True)
        self.cmd("lxc-start", "-n", ct, "-d").ok(f"lxc-start {ct}")
        shutil.copyfile(binary, self.base / ct / "rootfs/memwriter")
        (self.base / ct / "rootfs/memwriter").chmod(0o755)
        line = f"setsid /memwriter {mib} {COUNTER} </dev/null >/dev/null 2>&1 &"
        self.cmd("lxc-attach", "-n", ct, "--", "sh", "-c", line).ok(f"lxc-attach {ct}")
        wait_for(lambda: (self.counter(ct) or 0) >= 3, READY_TIMEOUT, f"memwriter in {ct}")

    def drop(self, ct: str) -> None:
        if (self.base / ct).is_dir():
            self.remove(ct)


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Results:
    sizes: list[int]
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lxc_na: str | None = None
    notes: list[str] = field(default_factory=list)

    def put(self, mib: int, key: str, value: Any) -> None:
        self.rows.setdefault(mib, {})[key] = value

    def get(self, mib: int, key: str) -> Any:
        return self.rows.get(mib, {}).get(key)


def du_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / (1 << 20)


def hutch_cr(src: NsHutch, mib: int, binary: Path, images: Path) -> dict[str, Any]:
    ct = f"c{mib}"
    try:
        src.new_writer(ct, mib, binary)
        pid = src.writer_pid(ct)
        before = src.counter(ct) or 0
        t0 = time.perf_counter()
        d1 = src.cmd("checkpoint", ct, "--dir", str(images), "--json").ok(f"checkpoint {ct}")
        d2 = src.cmd("restore", ct, "--dir", str(images), "--json").ok(f"restore {ct}")
        frozen = time.perf_counter() - t0
        src.goes_on(ct, before, pid)
        return {
            "dump_ms": json.loads(d1.stdout)["dump_ms"],
            "restore_ms": json.loads(d2.stdout)["restore_ms"],
            "checkpoint_wall_ms": round(d1.ms, 1),
            "restore_wall_ms": round(d2.ms, 1),
            "frozen_s": round(frozen, 3),
            "image_mib": round(du_mib(images), 1),
        }
    finally:
        src.drop(ct)
        shutil.rmtree(images, ignore_errors=True)


def lxc_cr(lxc: CriuLxc, mib: int, binary: Path, images: Path) -> dict[str, Any]:
    ct = lxc.ct_name(f"c{mib}")
    try:
        lxc.new_writer(ct, mib, binary)
        before = lxc.counter(ct) or 0
        t0 = time.perf_counter()
        d1 = lxc.cmd("lxc-checkpoint", "-n", ct, "-s", "-D", str(images))
        if d1.rc != 0:
            raise BenchError(f"lxc-checkpoint -s: {criu_error(images / 'dump.log', d1)}")
        t1 = time.perf_counter()
        d2 = lxc.cmd("lxc-checkpoint", "-n", ct, "-r", "-D", str(images))
        if d2.rc != 0:
            raise BenchError(f"lxc-checkpoint -r: {criu_error(images / 'restore.log', d2)}")
        # -r returns once the restored container is handed to its monitor: until RUNNING
        wait_for(lambda: lxc.state(ct) == "RUNNING", 30, f"{ct} RUNNING after restore")
        t2 = time.perf_counter()
        wait_for(
            lambda: (lxc.counter(ct) or 0) > before, GOES_ON_TIMEOUT, f"the count in {ct} to go on"
        )
        return {
            "checkpoint_wall_ms": round((t1 - t0) * 1000, 1),
            "restore_wall_ms": round((t2 - t1) * 1000, 1),
            "frozen_s": round(t2 - t0, 3),
            "image_mib": round(du_mib(images), 1),
        }
    finally:
        lxc.drop(ct)
        shutil.rmtree(images, ignore_errors=True)


def criu_error(logfile: Path, d: Done) -> str:
    try:
        errors = [x for x in logfile.read_text().splitlines() if "Error" in x]
    except OSError:
        errors = []
    errors = [x for x in errors if "RLIMIT_NOFILE" not in x]  # harmless, always there
    return (errors[:2] or (d.stderr.strip().splitlines() or [f"exit {d.rc}"])[-1:])[-1]


_STAMP = re.compile(r"^migrate \S+ -> \S+: \[\s*([\d.]+)s\] (.*)$")


def phases(stderr: str) -> dict[str, float]:
    """Times of the online migration's steps, from hutch migrate's progress lines."""
    at: dict[str, float] = {}
    for line in stderr.splitlines():
        m = _STAMP.match(line)
        if not m:
            continue
        t, text = float(m[1]), m[2]
        for key, start in (
            ("freeze", "freezing and dumping"),
            ("dumped", "dumped in"),
            ("copied", "final copy:"),
            ("restored", "restored there"),
        ):
            if text.startswith(start):
                at[key] = t
        if text.startswith("live copy pass"):
            at["precopy_passes"] = at.get("precopy_passes", 0) + 1
    out = {}
    if {"freeze", "dumped", "copied", "restored"} <= at.keys():
        out = {
            "dump_s": round(at["dumped"] - at["freeze"], 2),
            "copy_s": round(at["copied"] - at["dumped"], 2),
            "adopt_restore_s": round(at["restored"] - at["copied"], 2),
        }
    out["precopy_passes"] = at.get("precopy_passes", 0)
    return out


def migration(
    src: NsHutch, dst: NsHutch, target: Any, mib: int, binary: Path, online: bool
) -> dict[str, Any]:
    ct = f"{'n' if online else 'f'}{mib}"
    try:
        src.new_writer(ct, mib, binary)
        pid = src.writer_pid(ct)
        before = src.counter(ct) or 0
        more = ["--online"] if online else []
        d = src.cmd("migrate", ct, target.dest, *target.ssh_args, *more, "--json",
                    timeout=MIGRATE_TIMEOUT)  # fmt: skip
        d.ok(f"migrate {ct}{' --online' if online else ''}")
        result = json.loads(d.stdout)
        out = {
            "downtime_s": round(result["downtime"], 3),
            "total_s": round(result["total"], 3),
            "notes": result.get("notes", []),
        }
        status = dst.cmd("status", ct).ok(f"target: status {ct}").stdout
        if "running" not in status.split():
            raise BenchError(f"{ct} is not running on the target after the migration: {status}")
        if online:
            out["counter_before"] = before
            out["counter_after"] = dst.goes_on(ct, before, pid)
            out.update(phases(d.stderr))
        return out
    finally:
        src.drop(ct)
        dst.drop(ct)


# --- the run --------------------------------------------------------------------------------


def build_memwriter(tmp: Path) -> Path:
    out = tmp / "memwriter"
    d = sh(["gcc", "-static", "-O2", "-o", str(out), str(MEMWRITER_C)], dict(os.environ), 120)
    d.ok("gcc -static memwriter.c")
    return out


def rig() -> tuple[Any, Any]:
    """The migration rig of the integration tests (no pytest in it)."""
    if str(RIG_DIR) not in sys.path:
        sys.path.insert(0, str(RIG_DIR))
    from migrate_rig import TargetHost
    from netns import HostNetns

    return HostNetns, TargetHost


def lxc_unavailable() -> str | None:
    missing = [c for c in ("lxc-create", "lxc-checkpoint") if not shutil.which(c)]
    if missing:
        return f"{', '.join(missing)} not installed"
    if not os.access(f"{CRIU_BIN}/criu", os.X_OK):
        return f"no criu in {CRIU_BIN}"
    return None


def attempt(res: Results, mib: int, key: str, fn: Any) -> None:
    log(f"{mib} MiB: {key}")
    try:
        res.put(mib, key, fn())
    except BenchError as e:
        res.errors.append(f"{mib} MiB {key}: {e}")
        res.put(mib, key, {"error": str(e)})
        log(f"FAILED {mib} MiB {key}: {e}")


def bench(tmp: Path, sizes: list[int]) -> Results:
    HostNetns, TargetHost = rig()
    env = bytecode_env()
    env.pop("HUTCH_ROOT", None)
    compile_hutch(env)
    binary = build_memwriter(tmp)
    res = Results(sizes)
    res.lxc_na = lxc_unavailable()
    tag = os.getpid()
    state: dict[str, Any] = {}
    # LXC leaves an empty lxc.pivot group in each hierarchy: removed if it was not there before
    pivots_before = {m / "lxc.pivot" for m in cgroup_mounts() if (m / "lxc.pivot").exists()}

    def cleanup() -> None:
        problems: list[str] = []
        lxc = state.get("lxc")
        for h in (state.get("src"), state.get("dst")):
            if h is not None:
                try:
                    h.cleanup()  # leftover containers, then its hutchd
                except Exception as e:
                    problems.append(f"{h.name}: {e}")
        if lxc is not None:
            try:
                lxc.cleanup()
            except Exception as e:
                problems.append(f"lxc: {e}")
        if state.get("target") is not None:
            problems += state["target"].close()
        if state.get("src_ns") is not None:
            problems += state["src_ns"].close()
        if lxc is not None:
            for d in leftover_cgroups(state["src"].base, lxc.prefix) if "src" in state else []:
                problems.append(f"cgroup left: {d}")
        if "dst" in state:
            from hutch.paths import Paths

            name = Paths(state["dst"].base).cgroup_name
            for mnt in Path("/sys/fs/cgroup").iterdir():
                if (mnt / name).exists():
                    problems.append(f"target cgroup left: {mnt / name}")
        for m in cgroup_mounts():
            pivot = m / "lxc.pivot"
            if pivot not in pivots_before and pivot.is_dir():
                try:
                    pivot.rmdir()
                except OSError:
                    pass
        for p in problems:
            log(f"cleanup: {p}")

    with cleanup_always(cleanup):
        src_ns = state["src_ns"] = HostNetns.create(f"hutch-bs{tag}")
        (tmp / "src").mkdir()
        src = state["src"] = NsHutch("source", tmp / "src", env, src_ns.path)
        target = state["target"] = TargetHost.create(tmp / "target", src_ns, f"hutch-bt{tag}")
        dst = state["dst"] = NsHutch("target", target.root, env, target.ns.path)
        if res.lxc_na is None:
            (tmp / "lxc").mkdir()
            lxc = state["lxc"] = CriuLxc(tmp / "lxc", env)
        images = tmp / "images"
        log(f"workspace {tmp}; warm-up (starts both hutchds)")
        src.cmd("list").ok("source: list")
        target.ssh("hutch", "list", timeout=60)
        for mib in sizes:
            attempt(res, mib, "hutch_cr", partial(hutch_cr, src, mib, binary, images))
            if res.lxc_na is None:
                attempt(res, mib, "lxc_cr", partial(lxc_cr, lxc, mib, binary, images))
            for key, online in (("offline", False), ("online", True)):
                attempt(res, mib, key, partial(migration, src, dst, target, mib, binary, online))
    return res


# --- output -----------------------------------------------------------------------------------


def val(row: dict[str, Any] | None, key: str) -> float | None:
    return None if not row or "error" in row else row.get(key)


def f2(v: float | None, width: int) -> str:
    return f"{v:{width}.2f}" if v is not None else f"{'FAIL':>{width}}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def table(res: Results) -> list[str]:
    lxc_head = "LXC" if res.lxc_na is None else "LXC*"
    lines = [
        f"{'':>6} | {'checkpoint + restore, one host (frozen s)':^46} | {'offline migr.':^13} "
        f"| {'online migration':^23} | on/off",
        f"{'MiB':>6} | {'hutch':>6} {'(dump+restore ms)':>18} {lxc_head:>6} {'h/LXC':>5} "
        f"{'img MiB':>7} | {'down s':>6} {'total':>6} | {'down s':>6} {'total':>6} "
        f"{'pre-dump':>9} | {'down':>6}",
    ]
    lines.append("-" * len(lines[1]))
    for mib in res.sizes:
        h, x = res.get(mib, "hutch_cr"), res.get(mib, "lxc_cr")
        off, on = res.get(mib, "offline"), res.get(mib, "online")
        hf = val(h, "frozen_s")
        parts = f"{val(h, 'dump_ms'):.0f}+{val(h, 'restore_ms'):.0f}" if hf is not None else "-"
        xf = val(x, "frozen_s")
        xs = f2(xf, 6) if res.lxc_na is None else f"{'n/a':>6}"
        r = ratio(hf, xf)
        rs = f"{r:5.2f}" if r is not None else f"{'-':>5}"
        img = val(h, "image_mib")
        imgs = f"{img:7.0f}" if img is not None else f"{'-':>7}"
        onoff = ratio(val(on, "downtime_s"), val(off, "downtime_s"))
        oo = f"{onoff:6.2f}" if onoff is not None else f"{'-':>6}"
        od, nd = val(off, "downtime_s"), val(on, "downtime_s")
        pre = "-"
        if on and "error" not in on:
            pre = "skipped" if any("pre-dumps skipped" in n for n in on["notes"]) else "used"
        lines.append(
            f"{mib:>6} | {f2(hf, 6)} {parts:>18} {xs} {rs} "
            f"{imgs} | "
            f"{f2(od, 6)} {f2(val(off, 'total_s'), 6)} | {f2(nd, 6)} {f2(val(on, 'total_s'), 6)} "
            f"{pre:>9} | {oo}"
        )
    return lines


def notes(res: Results) -> list[str]:
    out = []
    if res.lxc_na is not None:
        out.append(f"* LXC: n/a ({res.lxc_na})")
    for mib in res.sizes:
        on = res.get(mib, "online")
        if on and "error" not in on and "dump_s" in on:
            out.append(
                f"online {mib} MiB: downtime = dump {on['dump_s']:.2f}s + copy of data and "
                f"images {on['copy_s']:.2f}s + adopt/restore there {on['adopt_restore_s']:.2f}s "
                f"(+ ssh calls); {on['precopy_passes']} live rootfs pass(es); memwriter count "
                f"{on['counter_before']} -> {on['counter_after']} (went on, same PID)"
            )
    pre = {n for mib in res.sizes for n in (val(res.get(mib, "online"), "notes") or [])}
    out += sorted(pre)
    return out


def dominates(res: Results) -> str:
    """What the numbers say dominates, from this run's own figures."""
    big = max((m for m in res.sizes if val(res.get(m, "online"), "dump_s") is not None),
              default=None)  # fmt: skip
    if big is None:
        return "no successful online migration to break down"
    on = res.get(big, "online")
    h = res.get(big, "hutch_cr")
    parts = {"the dump": on["dump_s"], "rsync of images over ssh": on["copy_s"],
             "adopt + restore there": on["adopt_restore_s"]}  # fmt: skip
    top = max(parts, key=lambda k: parts[k])
    share = parts[top] / on["downtime_s"] if on["downtime_s"] else 0
    img = val(h, "image_mib")
    extra = f"; images of {img:.0f} MiB (all of the written memory)" if img else ""
    off = val(res.get(big, "offline"), "downtime_s")
    cmp = (
        f"; offline downtime ({off:.2f}s) hardly depends on memory: stop, rsync of the "
        "small rootfs, start, but the memwriter's state is lost"
        if off is not None
        else ""
    )
    return (
        f"at {big} MiB, {top} is {share:.0%} of the online downtime{extra}. Online downtime grows "
        f"with the memory written (no pre-dump here){cmp}"
    )


def report(res: Results) -> dict[str, Any]:
    return {
        "kernel": os.uname().release,
        "sizes_mib": res.sizes,
        "results": {str(k): v for k, v in res.rows.items()},
        "lxc": res.lxc_na or "measured",
        "errors": res.errors,
    }


def print_report(res: Results, as_json: bool) -> None:
    out = sys.stderr if as_json else sys.stdout
    print(
        f"\nmemwriter N MiB (all pages dirtied every ~10 ms), one measurement each, kernel "
        f"{os.uname().release}; frozen = checkpoint start -> restore returned",
        file=out,
    )
    for line in [*table(res), *notes(res)]:
        print(line, file=out)
    print(f"what dominates: {dominates(res)}", file=out)
    for e in res.errors:
        print(f"FAILED: {e}", file=out)
    if as_json:
        json.dump(report(res), sys.stdout, indent=2)
        print()


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/migrate.py needs root")
    missing = [c for c in ("gcc", "rsync", "ssh", NSENTER, "ip") if not shutil.which(c)]
    if missing:
        sys.exit(f"missing commands: {', '.join(missing)}")
    from hutch.criu import readiness

    r = readiness.probe()
    if not r.usable:
        sys.exit(f"CRIU is not usable here: {(r.problems or ['not installed'])[0]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", help="MiB of written memory, comma-separated (default 64,256,1024)")
    p.add_argument("--quick", action="store_true", help="64 MiB only (unless --sizes)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = p.parse_args(argv)
    if args.sizes:
        try:
            args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            p.error("--sizes takes numbers of MiB, e.g. 64,256")
        if not args.size_list or min(args.size_list) < 1:
            p.error("--sizes takes positive numbers of MiB")
    else:
        args.size_list = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preflight()
    tmp = Path(tempfile.mkdtemp(prefix="hutch-bench-migrate-"))
    try:
        res = bench(tmp, args.size_list)
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        return 130
    finally:
        remove_tree(tmp)
    print_report(res, args.json)
    return 1 if res.errors else 0


if __name__ == "__main__":
    sys.exit(main())
