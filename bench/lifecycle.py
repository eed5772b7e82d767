"""Container lifecycle, side by side: hutch vs LXC, in one run on this host.

    /opt/hutch/venv/bin/python bench/lifecycle.py [--runs N] [--containers K] [--json]

Every command is timed as a whole process (what an operator waits for). Both tools get a
busybox rootfs, no network device and no LSM profile, and private state directories in a
temporary directory (hutch --root DIR, lxc-* -P DIR), removed at the end. See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
HUTCH = str(Path(sys.executable).with_name("hutch"))
COMMAND_TIMEOUT = 120.0
MEMORY_KEYS = ("pss", "pss_anon", "rss")
LXC_CONFIG = "lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n"

# the steps of one measured cycle, in order; (key, label shown in the table)
CYCLE: list[tuple[str, str]] = [
    ("create", "create (busybox)"),
    ("start", "start"),
    ("exec", "exec true / attach true"),
    ("status", "status / lxc-info (CLI)"),
    ("list", "list / lxc-ls (CLI)"),
    ("stop_kill", "stop --kill / stop -k"),
    ("restart", "start (again, untimed row)"),
    ("stop_clean", "stop (clean shutdown)"),
    ("destroy", "destroy"),
]
UNREPORTED = {"restart"}
COLD = ("start_cold", "start, hutchd not running")
# hutchd reports how long the start took inside it (no CLI process start-up); LXC's column
# is still the whole `lxc-start -d` process, so this row compares the library paths
DAEMON = ("start_daemon", "start inside hutchd (*)")
# the library in this process (hutch.Container), no CLI and no hutchd: what the CLI costs on
# top is the difference to the rows above. The LXC column repeats lxc-start -d, lxc-attach
# and lxc-stop -k, whole processes.
LIBRARY: list[tuple[str, str, str]] = [
    ("lib_start", "Container.start() (**)", "start"),
    ("lib_exec", "Container.exec(true) (**)", "exec"),
    ("lib_stop_kill", "Container.stop(kill) (**)", "stop_kill"),
]


# the targets of issue 14, as hutch/LXC ratios of the whole processes (an operator's wait);
# the in-daemon start has an absolute one: 6 ms, 0.7x of LXC's whole lxc-start -d here
TARGET_RATIO = {
    "create": 0.5,
    "start": 1.3,
    "exec": 1.5,
    "stop_kill": 1.0,
    "destroy": 1.5,
}
TARGET_MS = {"start_daemon": 6.0}


# --- running and timing commands ---------------------------------------------------------


@dataclass
class Outcome:
    ms: float
    ok: bool
    error: str = ""
    stdout: str = ""


def run(argv: list[str], env: dict[str, str]) -> Outcome:
    """Run one command to completion; wall-clock time as seen from the shell."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return Outcome((time.perf_counter() - t0) * 1000, False, f"timed out: {' '.join(argv)}")
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()[-5:]
        return Outcome(ms, False, f"exit {p.returncode}: {' '.join(argv)}: " + " | ".join(msg))
    return Outcome(ms, True, stdout=p.stdout)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    samples: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        if o.ok:
            self.samples.append(o.ms)
        else:
            self.errors.append(o.error)

    def summary(self) -> dict[str, Any]:
        s = self.samples
        return {
            "n": len(s),
            "failed": len(self.errors),
            "median_ms": round(statistics.median(s), 1) if s else None,
            "min_ms": round(min(s), 1) if s else None,
            "max_ms": round(max(s), 1) if s else None,
            "errors": self.errors[:3],
        }


# step -> tool name -> Row
Results = dict[str, dict[str, Row]]


# --- the two tools -------------------------------------------------------------------------


class Tool:
    name = ""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base = base
        self.env = env

    def argv(self, step: str, ct: str) -> list[str]:
        raise NotImplementedError

    def ct_name(self, label: str) -> str:
        raise NotImplementedError

    def init_pid(self, ct: str) -> int | None:
        raise NotImplementedError

    def leftovers(self) -> list[str]:
        raise NotImplementedError

    def step(self, step: str, ct: str) -> Outcome:
        return run(self.argv(step, ct), self.env)

    def remove(self, ct: str) -> None:
        """Best effort: kill and destroy one container, whatever state it is in."""
        for step in ("stop_kill", "destroy"):
            self.step(step, ct)

    def cleanup(self) -> None:
        for ct in self.leftovers():
            log(f"cleanup: {self.name}: removing leftover container {ct}")
            self.remove(ct)


class Hutch(Tool):
    name = "hutch"

    def argv(self, step: str, ct: str) -> list[str]:
        verbs = {
            "create": ["create", ct, "--template", "busybox"],
            "start": ["start", ct, "--json"],
            "restart": ["start", ct],
            "start_cold": ["start", ct],
            "exec": ["exec", ct, "true"],
            "status": ["status", ct],
            "list": ["list"],
            "stop_kill": ["stop", ct, "--kill"],
            "stop_clean": ["stop", ct],
            "destroy": ["destroy", ct],
        }
        return [HUTCH, "--root", str(self.base), *verbs[step]]

    def ct_name(self, label: str) -> str:
        return f"b{label}"

    def init_pid(self, ct: str) -> int | None:
        o = run([*self.argv("status", ct), "--json"], self.env)
        return json.loads(o.stdout).get("pid") if o.ok else None

    def leftovers(self) -> list[str]:
        d = self.base / "var/lib/hutch/containers"
        if not d.is_dir():
            return []
        # ".ID.creating" is an interrupted create's staging dir: it goes with the workspace
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    def daemon_pid(self) -> int | None:
        """hutchd of our private root, if it runs (checked against its command line)."""
        try:
            pid = int((self.base / "run/hutch/hutchd.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        if b"hutch.daemon" in cmdline and str(self.base).encode() in cmdline and alive(pid):
            return pid
        return None

    def stop_daemon(self) -> None:
        """SIGTERM our hutchd (it leaves containers running: stop them first)."""
        pid = self.daemon_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid):
            log(f"warning: hutchd {pid} still alive 10 s after SIGTERM")

    def cleanup(self) -> None:
        super().cleanup()
        self.stop_daemon()


class Lxc(Tool):
    name = "lxc"

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        super().__init__(base, env)
        self.config = base / "bench.conf"
        self.config.write_text(LXC_CONFIG)
        self.prefix = f"hb{os.getpid()}-"

    def argv(self, step: str, ct: str) -> list[str]:
        commands = {
            "create": ["lxc-create", "-t", "busybox", "-f", str(self.config)],
            "start": ["lxc-start", "-d"],
            "restart": ["lxc-start", "-d"],
            "exec": ["lxc-attach", "--", "true"],
            "status": ["lxc-info"],
            "stop_kill": ["lxc-stop", "-k"],
            "stop_clean": ["lxc-stop"],
            "destroy": ["lxc-destroy"],
        }
        if step == "list":
            return ["lxc-ls", "-P", str(self.base)]
        cmd, *rest = commands[step]
        return [cmd, "-P", str(self.base), "-n", ct, *rest]

    def ct_name(self, label: str) -> str:
        return self.prefix + label

    def init_pid(self, ct: str) -> int | None:
        o = run([*self.argv("status", ct), "-p", "-H"], self.env)
        return int(o.stdout.strip()) if o.ok and o.stdout.strip().isdigit() else None

    def leftovers(self) -> list[str]:
        o = run(self.argv("list", ""), self.env)
        return o.stdout.split() if o.ok else []


# --- /proc helpers -------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def memory_kib(pid: int) -> dict[str, int]:
    """Pss, Pss_Anon and Rss of one process, in KiB, from smaps_rollup."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key.lower() in MEMORY_KEYS:
            out[key.lower()] = int(rest.split()[0])
    return out


def per_ct(total: dict[str, int], n: int) -> dict[str, float | None]:
    return {key: round(total[key] / n, 1) if n else None for key in MEMORY_KEYS}


# --- the measurements ----------------------------------------------------------------------


def cycle(tool: Tool, ct: str, results: Results | None) -> bool:
    """create -> ... -> destroy once; record each step unless results is None (warm-up)."""
    for key, _label in CYCLE:
        o = tool.step(key, ct)
        if results is not None and key not in UNREPORTED:
            results[key][tool.name].add(o)
            if key == "start" and o.ok:
                results[DAEMON[0]][tool.name].add(daemon_side(tool, o))
        if not o.ok:
            log(f"FAILED {tool.name} {key}: {o.error}")
            tool.remove(ct)
            return False
    return True


def daemon_side(tool: Tool, o: Outcome) -> Outcome:
    """hutch: the start's duration inside hutchd, from `start --json`; LXC: unchanged."""
    if isinstance(tool, Hutch):
        return Outcome(ms=float(json.loads(o.stdout)["elapsed_ms"]), ok=True)
    return o


def measure_cycles(tools: tuple[Tool, ...], runs: int, results: Results) -> None:
    for i in range(runs):
        log(f"run {i + 1}/{runs}")
        for tool in tools:  # interleaved, so drift on the host hits both alike
            cycle(tool, tool.ct_name(f"r{i}"), results)


def measure_library(hutch: Hutch, runs: int, results: Results) -> None:
    """Container.start(), exec(["true"]) and stop(kill=True) timed in this process, on
    containers the CLI created (and the library destroys), in hutch's root."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    import hutch as lib

    host = lib.Host(root=hutch.base)
    log(f"library in-process cycles ({runs})")
    for i in range(runs):
        name = hutch.ct_name(f"l{i}")
        if not hutch.step("create", name).ok:
            log(f"FAILED hutch create {name}")
            continue
        ct = host.get(name)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("lib_start", ct.start),
            ("lib_exec", functools.partial(ct.exec, ["true"])),
            ("lib_stop_kill", functools.partial(ct.stop, kill=True)),
        ]
        for key, call in steps:
            t0 = time.perf_counter()
            try:
                call()
                o = Outcome((time.perf_counter() - t0) * 1000, True)
            except lib.HutchError as e:
                o = Outcome((time.perf_counter() - t0) * 1000, False, f"{key}: {e}")
                log(f"FAILED library {key}: {e}")
            results[key]["hutch"].add(o)
            if not o.ok:
                break
        try:
            ct.destroy(force=True)
        except lib.HutchError as e:
            log(f"FAILED library destroy {name}: {e}")


def measure_cold_start(hutch: Hutch, runs: int, results: Results) -> None:
    """`hutch start` when hutchd is not running: the CLI spawns it, then starts the container."""
    log(f"hutchd cold starts ({runs})")
    for i in range(runs):
        ct = hutch.ct_name(f"c{i}")
        if not hutch.step("create", ct).ok:
            log(f"FAILED hutch create {ct}")
            continue
        hutch.stop_daemon()
        o = hutch.step("start_cold", ct)
        results[COLD[0]]["hutch"].add(o)
        if not o.ok:
            log(f"FAILED hutch cold start: {o.error}")
        hutch.remove(ct)


def start_many(tool: Tool, k: int) -> tuple[list[str], list[str]]:
    names, errors = [], []
    for j in range(k):
        ct = tool.ct_name(f"m{j}")
        for key in ("create", "start"):
            o = tool.step(key, ct)
            if not o.ok:
                errors.append(o.error)
                log(f"FAILED {tool.name} {key}: {o.error}")
                break
        else:
            names.append(ct)
    return names, errors


def remove_all(tool: Tool, names: list[str]) -> None:
    for ct in names:
        tool.remove(ct)


def memory_hutch(hutch: Hutch, k: int) -> dict[str, Any]:
    """Growth of hutchd's memory from 0 to k running containers, per container."""
    pid = hutch.daemon_pid()
    if pid is None:
        return {"error": "hutchd is not running"}
    before = memory_kib(pid)
    names, errors = start_many(hutch, k)
    time.sleep(0.5)  # let the daemon settle after the last start
    after = memory_kib(pid)
    parents = {ppid(p) for p in map(hutch.init_pid, names) if p}
    remove_all(hutch, names)
    n = len(names)
    return {
        "containers": n,
        "errors": errors,
        "daemon_pid": pid,
        "daemon_kib_before": before,
        "daemon_kib_after": after,
        "kib_per_ct": per_ct({key: after[key] - before[key] for key in MEMORY_KEYS}, n),
        "init_parents": sorted(parents),
        "monitor_processes": 0 if parents == {pid} else None,
    }


def memory_lxc(lxc: Lxc, k: int) -> dict[str, Any]:
    """Pss/Rss of LXC's per-container monitor (the parent of each container's init)."""
    names, errors = start_many(lxc, k)
    time.sleep(0.5)
    monitors, total = [], dict.fromkeys(MEMORY_KEYS, 0)
    for ct in names:
        init = lxc.init_pid(ct)
        if init is None:
            errors.append(f"no init pid for {ct}")
            continue
        mon = ppid(init)
        if not cmdline(mon).startswith("[lxc monitor]"):
            errors.append(f"parent {mon} of init {init} is not an lxc monitor: {cmdline(mon)}")
            continue
        monitors.append(mon)
        for key, v in memory_kib(mon).items():
            total[key] += v
    remove_all(lxc, names)
    n = len(monitors)
    return {
        "containers": len(names),
        "errors": errors,
        "monitor_processes": n,
        "monitors_kib_total": total,
        "kib_per_ct": per_ct(total, n),
    }


# --- output --------------------------------------------------------------------------------


def fmt(v: float | None, width: int = 9) -> str:
    return f"{v:{width}.1f}" if v is not None else f"{'-':>{width}}"


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def cell(s: dict[str, Any]) -> str:
    if s["failed"]:
        return f"{'FAIL ' + str(s['failed']) + '/' + str(s['n'] + s['failed']):>9}"
    return fmt(s["median_ms"])


def span(s: dict[str, Any]) -> str:
    text = "-" if s["min_ms"] is None else f"{s['min_ms']:.1f}-{s['max_ms']:.1f}"
    return f"{text:>15}"


def timing_table(report: dict[str, Any]) -> list[str]:
    head = f"{'step':<28}{'hutch ms':>9} {'LXC ms':>9} {'h/LXC':>6} {'target':>8} {'met':>4}  "
    head += f"{'hutch min-max':>15} "
    lines = [head + f"{'LXC min-max':>15}", "-" * (len(head) + 15)]
    for label, row in report["timings"].items():
        h, x = row["hutch"], row["lxc"]
        r = row["ratio"]
        target = row.get("target", "-")
        met = "-" if "meets" not in row else ("yes" if row["meets"] else "no")
        lines.append(
            f"{label:<28}{cell(h)} {cell(x)} {(f'{r:.2f}' if r else '-'):>6} {target:>8} "
            f"{met:>4}  {span(h)} {span(x)}"
        )
    return lines


def memory_table(report: dict[str, Any]) -> list[str]:
    mem = report["memory"]
    h, x = mem["hutch"], mem["lxc"]
    k = report["meta"]["containers"]
    lines = [f"host memory per running container (K={k}), KiB: hutch = growth of hutchd / K,"]
    lines.append("  LXC = sum of the [lxc monitor] processes / K")
    lines.append(f"  {'':<26}{'hutch':>9} {'LXC':>9} {'h/LXC':>7}")
    for key in MEMORY_KEYS:
        hv, xv = h.get("kib_per_ct", {}).get(key), x.get("kib_per_ct", {}).get(key)
        r = round(hv / xv, 4) if hv is not None and xv else None
        lines.append(f"  {key.upper():<26}{fmt(hv)} {fmt(xv)} {(f'{r:.4f}' if r else '-'):>7}")
    if "daemon_kib_before" in h:
        b = h["daemon_kib_before"]
        fixed = ", ".join(f"{key.upper()} {b[key]}" for key in MEMORY_KEYS)
        lines.append(f"  hutchd itself (fixed cost, 0 containers): {fixed}")
        lxc_pss = x.get("kib_per_ct", {}).get("pss")
        if lxc_pss:
            lines.append(
                f"  break-even: hutchd's fixed PSS = LXC monitors' PSS at "
                f"{b['pss'] / lxc_pss:.0f} running containers"
            )
    lines.append(
        f"  monitor processes per container: hutch {h.get('monitor_processes')} "
        f"(inits' parent: {h.get('init_parents')}, hutchd {h.get('daemon_pid')}), "
        f"LXC {x.get('monitor_processes')} for {x.get('containers')}"
    )
    for name, m in mem.items():
        for e in m.get("errors", []):
            lines.append(f"  {name} error: {e}")
    return lines


def build_report(results: Results, meta: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    labels = dict([*CYCLE, COLD, DAEMON, *((key, label) for key, label, _ in LIBRARY)])
    timings: dict[str, dict[str, Any]] = {}
    for key, tools in results.items():
        h, x = tools["hutch"].summary(), tools["lxc"].summary()
        ok = not h["failed"] and not x["failed"]
        r = ratio(h["median_ms"], x["median_ms"]) if ok else None
        row: dict[str, Any] = {"hutch": h, "lxc": x, "ratio": r}
        if key in TARGET_RATIO:
            row["target"] = f"<={TARGET_RATIO[key]}x"
            row["meets"] = r is not None and r <= TARGET_RATIO[key]
        elif key in TARGET_MS:
            row["target"] = f"<={TARGET_MS[key]:g}ms"
            row["meets"] = not h["failed"] and h["median_ms"] <= TARGET_MS[key]
        timings[labels[key]] = row
    cold = timings[labels["start_cold"]]["hutch"]["median_ms"]
    warm = timings[labels["start"]]["hutch"]["median_ms"]
    meta["hutchd_cold_start_overhead_ms"] = round(cold - warm, 1) if cold and warm else None
    return {"meta": meta, "timings": timings, "memory": memory}


def print_report(report: dict[str, Any], as_json: bool) -> None:
    out = sys.stderr if as_json else sys.stdout
    m = report["meta"]
    print(
        f"\nhutch vs LXC {m['lxc_version']}, {m['runs']} runs, medians of whole-process wall "
        f"time; kernel {m['kernel']}",
        file=out,
    )
    for line in timing_table(report):
        print(line, file=out)
    print(
        "(*) hutch: time inside hutchd from the request to the init's exec; "
        "LXC: the whole lxc-start -d process",
        file=out,
    )
    print(
        "(**) hutch: the library (hutch.Container) called in the bench's own process, "
        "no CLI, no hutchd; LXC: the same whole processes as above",
        file=out,
    )
    print(
        f"hutchd cold-start overhead (cold start - warm start median): "
        f"{m['hutchd_cold_start_overhead_ms']} ms",
        file=out,
    )
    for line in memory_table(report):
        print(line, file=out)
    if as_json:
        json.dump(report, sys.stdout, indent=2)
        print()


# --- setup and teardown --------------------------------------------------------------------


def bytecode_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_hutch(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC)], env=env, check=True)


def mounted_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(prefix)]


def cgroup_mounts() -> list[Path]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fstype = line.split(" - ", 1)[1].split()[0]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Path(line.split()[4]))
    return mounts


def leftover_cgroups(hutch_root: Path, lxc_prefix: str) -> list[str]:
    """Cgroups our containers used that still exist after cleanup (there should be none)."""
    from hutch.paths import Paths

    ours = Paths(hutch_root).cgroup_name
    found = []
    for mnt in cgroup_mounts():
        if (mnt / ours).exists():
            found.append(str(mnt / ours))
        found += [str(p) for p in mnt.glob(f"lxc.payload.{lxc_prefix}*")]
        found += [str(p) for p in mnt.glob(f"lxc.monitor.{lxc_prefix}*")]
    return found


def remove_tree(path: Path) -> None:
    busy = mounted_under(path)
    if busy:
        log(f"warning: not removing {path}: still mounted there: {busy}")
        return
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def workspace() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hutch-bench-"))
    try:
        yield d
    finally:
        remove_tree(d)


@contextmanager
def cleanup_always(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run `cleanup` when the block ends, even on Ctrl-C or SIGTERM (a second Ctrl-C
    must not interrupt it)."""

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            cleanup()
        finally:
            signal.signal(signal.SIGTERM, old)
            signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def cleanup_on_exit(tools: tuple[Hutch, Lxc]) -> Iterator[None]:
    """Stop and destroy whatever is left, even on Ctrl-C or SIGTERM."""

    def cleanup() -> None:
        for tool in tools:
            try:
                tool.cleanup()
            except Exception as e:
                log(f"cleanup of {tool.name} failed: {e}")

    # LXC leaves an empty lxc.pivot group in each hierarchy: ours to remove if it was not
    # there before (the host is left as found)
    pivots_before = {m / "lxc.pivot" for m in cgroup_mounts() if (m / "lxc.pivot").exists()}
    with cleanup_always(cleanup):
        yield
    for m in cgroup_mounts():
        pivot = m / "lxc.pivot"
        if pivot not in pivots_before and pivot.is_dir():
            try:
                pivot.rmdir()
            except OSError:
                pass
    for path in leftover_cgroups(tools[0].base, tools[1].prefix):
        log(f"warning: cgroup left behind after cleanup: {path}")


@contextmanager
def peer_tools() -> Iterator[tuple[Hutch, Lxc, dict[str, str]]]:
    """hutch and LXC, each in its own directory of a fresh workspace, with hutch's
    bytecode compiled; everything they made is removed afterwards, whatever happens."""
    preflight()
    env = bytecode_env()
    compile_hutch(env)
    with workspace() as tmp:
        (tmp / "hutch").mkdir()
        (tmp / "lxc").mkdir()
        hutch, lxc = Hutch(tmp / "hutch", env), Lxc(tmp / "lxc", env)
        with cleanup_on_exit((hutch, lxc)):
            yield hutch, lxc, env


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/lifecycle.py needs root")
    missing = [c for c in (HUTCH, "lxc-create", "lxc-start") if not shutil.which(c)]
    if missing:
        sys.exit(f"missing commands: {', '.join(missing)}")


def lxc_version() -> str:
    o = run(["lxc-start", "--version"], dict(os.environ))
    return o.stdout.strip() if o.ok else "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", "-n", type=int, default=10, help="measured cycles per tool")
    p.add_argument("--containers", "-k", type=int, default=10, help="running containers for memory")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    return p.parse_args(argv)


def bench(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = bytecode_env()
    compile_hutch(env)
    (tmp / "hutch").mkdir()
    (tmp / "lxc").mkdir()
    hutch, lxc = Hutch(tmp / "hutch", env), Lxc(tmp / "lxc", env)
    tools: tuple[Hutch, Lxc] = (hutch, lxc)
    results: Results = {key: {"hutch": Row(), "lxc": Row()} for key, _ in [*CYCLE, COLD, DAEMON]}
    del results["restart"]
    for key, _label, lxc_step in LIBRARY:
        results[key] = {"hutch": Row(), "lxc": results[lxc_step]["lxc"]}
    with cleanup_on_exit(tools):
        log("warm-up cycle (starts hutchd)")
        for tool in tools:
            if not cycle(tool, tool.ct_name("w"), None):
                log(f"warning: {tool.name} warm-up cycle failed")
        measure_cycles(tools, args.runs, results)
        measure_library(hutch, args.runs, results)
        log(f"memory: {args.containers} running containers per tool")
        memory = {
            "hutch": memory_hutch(hutch, args.containers),
            "lxc": memory_lxc(lxc, args.containers),
        }
        measure_cold_start(hutch, args.runs, results)
    results[COLD[0]]["lxc"].errors.clear()  # LXC has no daemon: the row is hutch only
    meta = {
        "runs": args.runs,
        "containers": args.containers,
        "lxc_version": lxc_version(),
        "kernel": os.uname().release,
        "lxc_config": LXC_CONFIG.strip().splitlines(),
    }
    return build_report(results, meta, memory)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preflight()
    try:
        with workspace() as tmp:
            log(f"workspace: {tmp}")
            report = bench(tmp, args)
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        return 130
    print_report(report, args.json)
    failed = any(t["hutch"]["failed"] or t["lxc"]["failed"] for t in report["timings"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
