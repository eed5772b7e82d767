"""Unprivileged containers on the real kernel: the user namespace, the host IDs of a
container's processes and files, shared and isolated blocks, --privileged, the backends
(dir, overlay over a shared template, image), clones, cgroup delegation, setuid binaries
and file capabilities through the shift, and mounts locked by the user namespace.

Containers are shared by the tests of the module (each start costs about a second); only
the tests that must change a container make their own.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest

from hutch.security import idmap
from hutch.security.idmap import SIZE

pytestmark = pytest.mark.root

CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_NET_RAW = 13
FULL_MAP = ["0", "0", "4294967295"]  # the initial user namespace's map, and a privileged one's
SUID_SU = "opt/suid/su"  # a setuid-root copy of busybox, as Debian's su
CAPS_CAT = "opt/caps/cat"  # a copy of busybox with cap_net_raw+ep
EMPTY_ROOT_PASSWORD = "root::0:0:99999:7:::\nnobody:*::0:99999:7:::\n"
USER_LINE = "user:x:1000:1000::/tmp:/bin/sh"  # an ordinary user (the template has none)
ADD_USER = f"grep -q '^user:' /etc/passwd || echo '{USER_LINE}' >>/etc/passwd"


# -- helpers ------------------------------------------------------------------------------


def sh(h, ctid: str, script: str) -> str:
    return h.ok("exec", ctid, "sh", "-c", script).stdout


def as_user(command: str) -> str:
    """A shell command run as uid 1000 inside (root's su needs no password)."""
    return f"su -s /bin/sh user -c {shlex.quote(command)}"


def host_ids(pid: int) -> tuple[list[int], list[int]]:
    """The Uid: and Gid: lines (real, effective, saved, fs) of a host process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return [int(v) for v in fields["Uid"]], [int(v) for v in fields["Gid"]]


def cap_bounding(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no CapBnd for {pid}")


def config_of(h, ctid: str) -> dict:
    return tomllib.loads(h.paths.ct_config(ctid).read_text())


def base_of(h, ctid: str) -> int:
    return int(config_of(h, ctid)["security"]["idmap_base"])


# Files hutch (re)writes in a rootfs as the host's root, after the shift: they end up owned
# by the host's root, i.e. nobody inside (see test_files_hutch_writes_belong_to_the_container)
HUTCH_WRITTEN = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}


def owners_below(top: Path, skip: set[str] = HUTCH_WRITTEN) -> set[tuple[int, int]]:
    """(uid, gid) of every entry below `top` (itself included, `skip` not), links not
    followed."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(top):
        out.add((os.lstat(dirpath).st_uid, os.lstat(dirpath).st_gid))
        for name in filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
            path = Path(dirpath, name)
            if str(path.relative_to(top)) not in skip:
                st = os.lstat(path)
                out.add((st.st_uid, st.st_gid))
    return out


def in_block(owners: set[tuple[int, int]], base: int) -> bool:
    return all(base <= u < base + SIZE and base <= g < base + SIZE for u, g in owners)


def expected_shared_base() -> int:
    return idmap.blocks()[0]


# -- containers shared by the module --------------------------------------------------------


@pytest.fixture(scope="module")
def subids() -> list[int]:
    found = idmap.blocks()
    if len(found) < 8:
        pytest.skip("root needs room for 8 blocks in /etc/subuid and /etc/subgid (setup.sh)")
    return found


@pytest.fixture(scope="module")
def shared(hutch_root, subids) -> str:
    """A default (unprivileged, shared) container, started."""
    ctid = hutch_root.new_id()
    out = hutch_root.ok("create", ctid).stdout
    assert f"unprivileged, root is host uid {subids[0]}" in out, out
    hutch_root.start(ctid)
    return ctid


@pytest.fixture(scope="module")
def isolated(hutch_root, subids) -> list[str]:
    """Two --idmap isolated containers, started."""
    ids = []
    for _ in range(2):
        ctid = hutch_root.new_id()
        hutch_root.ok("create", ctid, "--idmap", "isolated")
        hutch_root.start(ctid)
        ids.append(ctid)
    return ids


@pytest.fixture(scope="module")
def privileged(hutch_root, subids) -> str:
    ctid = hutch_root.new_id()
    out = hutch_root.ok("create", ctid, "--privileged").stdout
    assert "(dir backend, privileged)" in out, out
    hutch_root.start(ctid)
    return ctid


@pytest.fixture(scope="module")
def overlay(hutch_root, subids) -> str:
    ctid = hutch_root.new_id()
    hutch_root.ok("create", ctid, "--backend", "overlay")
    hutch_root.start(ctid)
    return ctid


@pytest.fixture(scope="module")
def image(hutch_root, subids) -> str:
    ctid = hutch_root.new_id()
    hutch_root.ok("create", ctid, "--backend", "image", "--diskspace", "64M:64M")
    hutch_root.start(ctid)
    return ctid


def _v2_caps(permitted: int) -> bytes:
    """security.capability as setcap writes it on the host: revision 2, effective."""
    return struct.pack("<IIIII", 0x02000001, permitted, 0, 0, 0)


@pytest.fixture(scope="module")
def suid_template(hutch_root, subids, tmp_path_factory) -> str:
    """A template (imported like any tarball) with Debian-style privileged binaries, owned
    by the host's root: busybox copied as a setuid-root `su`, and a copy with a file
    capability (what `setcap cap_net_raw+ep` writes); root's password empty so that su
    asks for none."""
    from hutch.storage.busybox import build_busybox_rootfs

    work = tmp_path_factory.mktemp("suid-template")
    tree = work / "rootfs"
    build_busybox_rootfs(tree)
    # busybox runs the applet its file is named after
    (tree / "opt/suid").mkdir(parents=True)
    su = tree / SUID_SU
    shutil.copyfile(tree / "bin/busybox", su)
    os.chmod(su, 0o4755)
    (tree / "opt/caps").mkdir()
    cat = tree / CAPS_CAT
    shutil.copyfile(tree / "bin/busybox", cat)
    os.chmod(cat, 0o755)
    os.setxattr(cat, idmap.XATTR_CAPS, _v2_caps(1 << CAP_NET_RAW))
    (tree / "etc/shadow").write_text(EMPTY_ROOT_PASSWORD)
    with open(tree / "etc/passwd", "a") as f:
        f.write(USER_LINE + "\n")
    archive = work / "suidtest.tar"
    tar = ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", str(tree)]
    subprocess.run(
        [*tar, "-cf", str(archive), "."],
        check=True,
        timeout=60,
    )
    hutch_root.ok("template", "import", archive, "--name", "suidtest")
    return "suidtest"


@pytest.fixture(scope="module")
def isolated_from_template(hutch_root, suid_template) -> str:
    """An isolated container of the setuid template (shifted once at create), stopped."""
    ctid = hutch_root.new_id()
    hutch_root.ok("create", ctid, "--template", suid_template, "--idmap", "isolated")
    return ctid


@pytest.fixture(scope="module")
def clone(hutch_root, isolated_from_template) -> str:
    """Its clone (a new block: shifted from the first one's IDs to its own), started."""
    ctid = hutch_root.new_id()
    hutch_root.ok("clone", isolated_from_template, ctid)
    hutch_root.start(ctid)
    return ctid


# -- the user namespace ------------------------------------------------------------------------


def test_default_init_runs_as_the_base_host_uid(hutch_root, shared, subids):
    base = base_of(hutch_root, shared)
    assert base == subids[0] == expected_shared_base()
    assert config_of(hutch_root, shared)["security"].get("idmap", "shared") == "shared"
    pid = hutch_root.init_pid(shared)
    assert pid is not None
    uids, gids = host_ids(pid)
    assert uids == [base] * 4 and gids == [base] * 4
    out = sh(hutch_root, shared, "cat /proc/1/uid_map /proc/1/gid_map; id -u; id -g")
    lines = out.split("\n")
    assert lines[0].split() == ["0", str(base), str(SIZE)], out
    assert lines[1].split() == ["0", str(base), str(SIZE)], out
    assert lines[2:4] == ["0", "0"], out  # root inside
    # the init's user namespace is not the host's
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")


def test_rootfs_files_belong_to_the_block(hutch_root, shared):
    base = base_of(hutch_root, shared)
    rootfs = hutch_root.rootfs(shared)
    st = rootfs.stat()
    assert (st.st_uid, st.st_gid) == (base, base)
    assert (rootfs / "bin/busybox").stat().st_uid == base
    owners = owners_below(rootfs)
    assert in_block(owners, base), sorted(owners)[:5]


def test_files_hutch_writes_belong_to_the_container(hutch_root, shared, overlay, image):
    for ctid in (shared, overlay, image):
        out = sh(
            hutch_root,
            ctid,
            "stat -c '%u:%g' /etc/hostname /etc/hosts; echo '# ours' >>/etc/hosts && echo wrote",
        )
        assert out.split() == ["0:0", "0:0", "wrote"], (ctid, out)


def test_a_file_made_inside_is_base_plus_uid_on_the_host(hutch_root, shared):
    base = base_of(hutch_root, shared)
    sh(
        hutch_root,
        shared,
        f"{ADD_USER} && touch /tmp/by-root && {as_user('touch /tmp/by-user')} && "
        "touch /tmp/given && chown 33:44 /tmp/given",
    )
    tmp = hutch_root.rootfs(shared) / "tmp"
    for name, (uid, gid) in {"by-root": (0, 0), "by-user": (1000, 1000), "given": (33, 44)}.items():
        st = (tmp / name).stat()
        assert (st.st_uid, st.st_gid) == (base + uid, base + gid), name
    # and the container sees its own numbers
    assert sh(hutch_root, shared, "stat -c '%u:%g' /tmp/given").strip() == "33:44"
    # a host ID outside its block shows as nobody
    outside = tmp / "host-owned"
    outside.write_text("x")
    os.chown(outside, 0, 0)
    out = sh(hutch_root, shared, "stat -c '%u:%g' /tmp/host-owned").strip()
    assert out == f"{idmap.OVERFLOW}:{idmap.OVERFLOW}"


def test_isolated_containers_get_blocks_of_their_own(hutch_root, shared, isolated, subids):
    bases = [base_of(hutch_root, c) for c in isolated]
    shared_base = base_of(hutch_root, shared)
    assert len(set(bases)) == 2 and shared_base not in bases, (bases, shared_base)
    assert all(b in subids for b in bases)
    uids = []
    for ctid, base in zip(isolated, bases, strict=True):
        assert config_of(hutch_root, ctid)["security"]["idmap"] == "isolated"
        pid = hutch_root.init_pid(ctid)
        assert pid is not None
        uids.append(host_ids(pid)[0][0])
        assert uids[-1] == base
        assert in_block(owners_below(hutch_root.rootfs(ctid)), base)
        out = sh(hutch_root, ctid, "cat /proc/self/uid_map")
        assert out.split() == ["0", str(base), str(SIZE)]
    assert len(set(uids)) == 2 and shared_base not in uids
    # an exec'd process is the same host user as its container's init
    p = subprocess.Popen(
        hutch_root.argv("exec", isolated[0], "sleep", "30.5"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def sleeper() -> int | None:
            for pid in hutch_root.all_procs():
                try:
                    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if args[:2] == [b"sleep", b"30.5"] and host_ids(pid)[0][0] in bases:
                    return pid
            return None

        pid = hutch_root.wait_until(sleeper, 10, "the exec'd sleep")
        assert host_ids(pid)[0] == [bases[0]] * 4
        os.kill(pid, 9)
        assert p.wait(10) != 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_list_and_status_show_how_ids_map(hutch_root, shared, isolated, privileged):
    out = hutch_root.ok("list", "-a").stdout.splitlines()
    assert out[0].split() == ["CTID", "NPROC", "STATUS", "IP_ADDR", "HOSTNAME", "IDMAP"]
    rows = {line.split()[0]: line.split()[-1] for line in out[1:]}
    assert rows[shared] == "shared" and rows[privileged] == "privileged"
    assert {rows[c] for c in isolated} == {"isolated"}
    assert hutch_root.ok("status", privileged).stdout.strip().endswith(" privileged")
    assert "privileged" not in hutch_root.ok("status", shared).stdout


# -- --privileged ------------------------------------------------------------------------------


def test_privileged_has_an_identity_user_namespace_and_fewer_caps(hutch_root, privileged):
    """IDs not shifted, capabilities not the host's: a user namespace of its own that maps
    every ID to itself (issue 12 item 5), which `exec` joins too."""
    pid = hutch_root.init_pid(privileged)
    assert pid is not None
    assert config_of(hutch_root, privileged)["security"]["privileged"] is True
    assert "idmap_base" not in config_of(hutch_root, privileged)["security"]
    own = os.readlink(f"/proc/{pid}/ns/user")
    assert own != os.readlink("/proc/self/ns/user")
    assert host_ids(pid)[0] == [0] * 4
    for name in ("uid_map", "gid_map"):
        assert Path(f"/proc/{pid}/{name}").read_text().split() == FULL_MAP
    out = sh(
        hutch_root,
        privileged,
        "cat /proc/1/uid_map; grep CapBnd /proc/self/status; readlink /proc/self/ns/user; "
        "mknod /tmp/console c 5 1 2>/dev/null && echo MADE || echo refused",
    )
    lines = out.splitlines()
    assert lines[0].split() == FULL_MAP
    assert lines[2] == own  # exec joined the container's user namespace
    assert lines[3] == "refused"  # CAP_MKNOD is checked in the host's user namespace
    for bnd in (cap_bounding(pid), int(lines[1].split()[1], 16)):  # the init, and an exec
        assert not bnd & (1 << CAP_SYS_ADMIN) and not bnd & (1 << CAP_SYS_PTRACE), hex(bnd)
    st = hutch_root.rootfs(privileged).stat()
    assert (st.st_uid, st.st_gid) == (0, 0)  # not shifted


# -- the backends ------------------------------------------------------------------------------


def test_overlay_template_stays_the_hosts(hutch_root, overlay):
    from hutch.storage.backends import unpacked

    base = base_of(hutch_root, overlay)
    lower = unpacked(hutch_root.paths, "busybox")
    assert owners_below(lower) == {(0, 0)}  # the shared cache: never shifted
    # ... while the container sees its files as its root's
    out = sh(hutch_root, overlay, "stat -c '%u:%g' / /bin/busybox /etc/passwd")
    assert out.split() == ["0:0"] * 3, out
    sh(hutch_root, overlay, f"{ADD_USER}; echo x >/etc/new-file; {as_user('touch /tmp/user-file')}")
    upper = hutch_root.paths.ct_dir(overlay) / "upper"
    st = (upper / "etc/new-file").stat()
    assert (st.st_uid, st.st_gid) == (base, base)
    st = (upper / "tmp/user-file").stat()
    assert (st.st_uid, st.st_gid) == (base + 1000, base + 1000)
    assert not (lower / "etc/new-file").exists()
    assert owners_below(lower) == {(0, 0)}
    pid = hutch_root.init_pid(overlay)
    assert pid is not None and host_ids(pid)[0][0] == base


def test_image_files_are_roots_inside(hutch_root, image):
    base = base_of(hutch_root, image)
    out = sh(
        hutch_root, image, "touch /root/made && stat -c '%u:%g' / /bin/busybox /etc /root/made"
    )
    assert out.split() == ["0:0"] * 4, out
    pid = hutch_root.init_pid(image)
    assert pid is not None
    # the image is mounted in the container's namespace only: seen from the host through it
    root = Path(f"/proc/{pid}/root")
    for name in ("bin/busybox", "etc", "root/made"):
        st = (root / name).stat()
        assert (st.st_uid, st.st_gid) == (base, base), name


# -- the shift: setuid binaries, file capabilities, clones ------------------------------------


def test_setuid_and_caps_survive_the_create_shift(hutch_root, isolated_from_template):
    base = base_of(hutch_root, isolated_from_template)
    rootfs = hutch_root.rootfs(isolated_from_template)
    st = (rootfs / SUID_SU).stat()
    assert (st.st_uid, st.st_gid) == (base, base)
    assert stat.S_IMODE(st.st_mode) == 0o4755
    caps = os.getxattr(rootfs / CAPS_CAT, idmap.XATTR_CAPS)
    assert caps[:4] == struct.pack("<I", 0x03000001)  # revision 3, effective
    assert struct.unpack_from("<I", caps, 4)[0] == 1 << CAP_NET_RAW
    assert struct.unpack_from("<I", caps, 20)[0] == base  # valid for its namespace's root
    assert in_block(owners_below(rootfs), base)


def test_clone_of_isolated_gets_a_new_block(hutch_root, isolated_from_template, clone, shared):
    first, second = base_of(hutch_root, isolated_from_template), base_of(hutch_root, clone)
    assert second != first and second != base_of(hutch_root, shared)
    assert config_of(hutch_root, clone)["security"]["idmap"] == "isolated"
    rootfs = hutch_root.rootfs(clone)
    assert in_block(owners_below(rootfs), second)
    assert in_block(owners_below(hutch_root.rootfs(isolated_from_template)), first)  # unchanged
    st = (rootfs / SUID_SU).stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (second, 0o4755)
    caps = os.getxattr(rootfs / CAPS_CAT, idmap.XATTR_CAPS)
    assert struct.unpack_from("<I", caps, 20)[0] == second
    pid = hutch_root.init_pid(clone)
    assert pid is not None and host_ids(pid)[0][0] == second


def test_setuid_binary_works_inside(hutch_root, clone):
    """A user becomes root through the setuid copy of su (shifted twice: at create, at
    clone); a file capability works for the namespace's root's users."""
    out = sh(
        hutch_root,
        clone,
        "; ".join(
            [
                as_user("id -u"),
                as_user(f"/{SUID_SU} -c 'id -u' root"),
                as_user(f"/{CAPS_CAT} /proc/self/status") + " | grep CapEff",
            ]
        ),
    )
    lines = out.splitlines()
    assert lines[:2] == ["1000", "0"], out
    # uid 1000 running the capable file has CAP_NET_RAW, and only that: the kernel took
    # the (rewritten, revision 3) capability as valid in this user namespace
    assert int(lines[2].split()[1], 16) == 1 << CAP_NET_RAW, out


# -- fixed at create ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ("--privileged", "yes"),
        ("--privileged", "yes", "--save"),
        ("--idmap", "isolated", "--save"),
        ("--idmap_base", "2000000", "--save"),
    ],
)
def test_privilege_and_idmap_cannot_be_set(hutch_root, shared, flags):
    config = hutch_root.paths.ct_config(shared).read_bytes()
    pid = hutch_root.init_pid(shared)
    line = hutch_root.fails("set", shared, *flags, code=2)
    assert "chosen at create" in line, line
    assert hutch_root.paths.ct_config(shared).read_bytes() == config
    assert hutch_root.init_pid(shared) == pid
    assert host_ids(pid)[0][0] == base_of(hutch_root, shared)


def test_privileged_cannot_become_unprivileged(hutch_root, privileged):
    config = hutch_root.paths.ct_config(privileged).read_bytes()
    line = hutch_root.fails("set", privileged, "--privileged", "no", "--save", code=2)
    assert "chosen at create" in line
    assert hutch_root.paths.ct_config(privileged).read_bytes() == config


# -- cgroups: delegated below, limits out of reach ---------------------------------------------


def test_cgroup_delegation(hutch_root, shared):
    base = base_of(hutch_root, shared)
    groups = {name: Path(path) for name, path in hutch_root.state(shared)["cgroup"]}
    if "pids" in groups:  # v1 (or hybrid): one hierarchy per controller
        inside = {"pids": "/sys/fs/cgroup/pids", "memory": "/sys/fs/cgroup/memory"}
        limits = {"pids": "pids.max", "memory": "memory.limit_in_bytes"}
    else:
        inside = {"unified": "/sys/fs/cgroup"}
        limits = {"unified": "pids.max"}
    script = []
    for name, path in inside.items():
        script += [
            f"mkdir {path}/svc",
            f"echo $$ >{path}/svc/cgroup.procs",
            f"grep -q ':/svc$' /proc/self/cgroup && echo moved-{name}",
            f"if echo 7 >{path}/{limits[name]}; then echo WROTE-{name}; fi",
        ]
    out = hutch_root.run("exec", shared, "sh", "-c", "; ".join(script))
    try:
        for name in inside:
            assert f"moved-{name}" in out.stdout, (out.stdout, out.stderr)
            assert f"WROTE-{name}" not in out.stdout, (out.stdout, out.stderr)
            svc = groups[name] / "ct" / "svc"
            assert svc.is_dir()
            assert (svc.stat().st_uid, svc.stat().st_gid) == (base, base)
            assert (groups[name] / "ct" / limits[name]).read_text().strip() != "7"
            assert "Permission denied" in out.stderr
    finally:
        sh(hutch_root, shared, "; ".join(f"rmdir {p}/svc" for p in inside.values()) + "; true")
    for name in inside:
        assert not (groups[name] / "ct" / "svc").exists()


# -- mounts locked by the user namespace ------------------------------------------------------

LOCKED = r"""
umount /proc/kmsg 2>/dev/null && echo UNMOUNTED-kmsg
umount -l /proc/kmsg 2>/dev/null && echo DETACHED-kmsg
mount -o remount,rw /proc/sys 2>/dev/null && echo REMOUNTED-proc-sys
mount -o remount,bind,rw /proc/sys 2>/dev/null && echo REMOUNTED-bind-proc-sys
mkdir -p /tmp/p /tmp/t
mount -t proc proc /tmp/p 2>/dev/null && echo MOUNTED-proc
mount -t tmpfs -o size=1m own /tmp/t && echo x >/tmp/t/f && echo tmpfs-ok
umount /tmp/t && echo tmpfs-gone
grep -q ' /proc/sys ro,' /proc/self/mountinfo && echo proc-sys-ro
[ -c /proc/kmsg ] && echo kmsg-masked
echo done
"""


def test_masks_are_locked_but_own_mounts_work(hutch_root, shared):
    out = sh(hutch_root, shared, LOCKED)
    lines = out.split()
    assert lines == ["tmpfs-ok", "tmpfs-gone", "proc-sys-ro", "kmsg-masked", "done"], out
