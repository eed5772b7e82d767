#!/usr/bin/env bash
# Install hutch and what it needs on Debian 12 or 13. Run as root; safe to run again.
#
#   bash setup.sh          apt packages, venv at /opt/hutch/venv, /usr/local/sbin/hutch
#   bash setup.sh --dev    also the benchmark peers (lxc, iperf3) and an editable install
#                          of this checkout with the dev tools, so tests run against it
#   bash setup.sh --test   --dev, then lint and run the test suite (what CI runs)
set -euo pipefail

# Needed to run hutch at all.
RUNTIME_PKGS=(
    busybox-static   # the built-in "busybox" template (hutch.storage.busybox)
    python3-venv     # hutch's venv, on the distribution's Python for fast startup
    python3-dev      # headers, for any dependency pip has to build from source
    ca-certificates  # pip's downloads over https
    iproute2         # ip: veth, bridges, venet routes
    util-linux       # nsenter, unshare, mount, losetup
    procps           # ps, pgrep: inspecting container processes from the host
    nftables         # NAT and port forwards
    e2fsprogs        # mkfs.ext4 for image-file rootfs with a disk quota
    debootstrap      # Debian templates (probed lazily, but cheap to have)
    zstd             # .tar.zst OS templates (hutch.storage.extract)
    python3-seccomp  # libseccomp's Python binding: compiles the seccomp filter
    openssh-client   # hutch migrate: one ssh connection to the target host
    rsync            # hutch migrate: config, rootfs and checkpoint images to the target
)
# --dev: peers that bench/ measures hutch against, side by side.
DEV_PKGS=(
    lxc              # the peer container manager
    lxc-templates    # lxc-create -t busybox, the like-for-like peer of our busybox template
    iperf3           # network throughput through venet / veth
    qemu-system-x86  # tools/v2vm: a pure cgroup v2 VM for the v2 driver's tests
    lxcfs            # per-container /proc/meminfo etc.; tests start it when no daemon runs
    gcc              # the escape-probe tests build a static attack program for inside
    libc6-dev        # ... against glibc's static libc.a
    openssh-server   # the migrate tests' simulated target host runs its own sshd
)

VENV=/opt/hutch/venv
PYTHON=/usr/bin/python3  # Debian's Python, never a pyenv shim that happens to be on PATH
LINK_DIR=/usr/local/sbin
LXC_NET_DEFAULTS=/etc/default/lxc-net

CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DEV=0
TEST=0

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# Run a noisy command silently; show its output only if it fails.
quietly() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        rm -f "$log"
        die "failed ($status): $*"
    fi
    rm -f "$log"
}

parse_args() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --dev) DEV=1 ;;
            --test) DEV=1; TEST=1 ;;
            -h|--help) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
            *) die "unknown option: $arg (try --help)" ;;
        esac
    done
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
            echo "$pkg"
        fi
    done
}

# Package lists younger than a day are good enough; skipping the update keeps reruns fast.
apt_lists_fresh() {
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 \
        -print -quit 2>/dev/null)" ]
}

apt_install() {
    local install=(apt-get install -y -q --no-install-recommends
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if ! apt_lists_fresh; then
        say "updating apt package lists ..."
        quietly apt-get update -q
    fi
    say "installing apt packages: $* ..."
    quietly "${install[@]}" "$@"
}

# Debian's lxc starts lxc-net right away only under systemd (its postinst calls
# deb-systemd-invoke when /run/systemd/system exists); elsewhere it only enables the
# sysv script, which creates lxcbr0 and a dnsmasq at the next boot. Turning the bridge
# off before and after the install stops both: benchmarks make their own networks.
disable_lxc_bridge() {
    if [ ! -e "$LXC_NET_DEFAULTS" ]; then
        echo 'USE_LXC_BRIDGE="false"' >"$LXC_NET_DEFAULTS"
    elif grep -q '^USE_LXC_BRIDGE=' "$LXC_NET_DEFAULTS"; then
        grep -qx 'USE_LXC_BRIDGE="false"' "$LXC_NET_DEFAULTS" \
            || sed -i 's/^USE_LXC_BRIDGE=.*/USE_LXC_BRIDGE="false"/' "$LXC_NET_DEFAULTS"
    else
        echo 'USE_LXC_BRIDGE="false"' >>"$LXC_NET_DEFAULTS"
    fi
}

install_packages() {
    local wanted=("${RUNTIME_PKGS[@]}") missing had_bridge=0
    [ "$DEV" -eq 1 ] && wanted+=("${DEV_PKGS[@]}")
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages already installed"
    else
        ip link show lxcbr0 >/dev/null 2>&1 && had_bridge=1
        # The existing file is kept by --force-confold when lxc installs its own.
        [ "$DEV" -eq 1 ] && disable_lxc_bridge
        apt_install "${missing[@]}"
        if [ "$had_bridge" -eq 0 ] && ip link show lxcbr0 >/dev/null 2>&1; then
            say "note: installing lxc created bridge lxcbr0; left in place"
        fi
    fi
    if [ "$DEV" -eq 1 ]; then
        disable_lxc_bridge
    fi
}

# CRIU for hutch checkpoint/restore, 4.2 or newer: 4.1 (Debian 13) cannot restore a veth
# pair of an unprivileged container on kernels that check CAP_NET_ADMIN in the peer's network
# namespace (6.x, "rtnetlink: add missing netlink_ns_capable() check for peer netns"), and
# Debian 12's 3.17 fails on new kernels altogether ("Unexpected rt vDSO area bounds"). So the
# criu of Debian's testing release and the libraries it needs are fetched as .debs (a private
# apt state: testing never enters the system's sources), unpacked under $CRIU_DIR and run
# through their own loader. --library-path rather than LD_LIBRARY_PATH, so the host programs
# criu starts (ip, iptables) keep the host's libraries. Its network lock works with nftables
# (--network-lock nftables, through the bundled libnftables), but a dump of a network
# namespace still runs iptables-save and ip6tables-save in it: iptables is needed.
CRIU_DIR=/opt/hutch/criu
CRIU_CACHE=/var/cache/hutch/criu
CRIU_MIRROR=${HUTCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CRIU_SUITE=forky  # Debian 14, testing: criu 4.2.1 on 2026-11-29

criu_works() {
    "$1" --version 2>/dev/null | grep -Eq '^Version: (4\.([2-9]|[1-9][0-9])|([5-9]|[1-9][0-9])\.)' \
        && "$1" check >/dev/null 2>&1
}

fetch_criu() {
    local apt_dir stage loader libdir pkgs deb
    apt_dir=$(mktemp -d)
    stage=$CRIU_DIR.new
    # The trap cleans up when quietly's die exits half-way.
    trap 'rm -rf "$apt_dir" "$stage"' EXIT
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/parts" "$CRIU_CACHE"
    : >"$apt_dir/status"
    echo "deb $CRIU_MIRROR $CRIU_SUITE main" >"$apt_dir/sources.list"
    cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/parts";
Dir::Etc::Preferences "$apt_dir/preferences";
Dir::Etc::PreferencesParts "$apt_dir/parts";
Dir::State "$apt_dir";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir";
Dir::Cache::archives "$apt_dir/archives";
APT::Architecture "$(dpkg --print-architecture)";
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
    say "fetching criu from Debian $CRIU_SUITE into $CRIU_DIR ..."
    quietly env APT_CONFIG="$apt_dir/apt.conf" apt-get update -q
    # Every package criu's run-time libraries come from; an empty dpkg status makes apt
    # list the whole closure, glibc included.
    mapfile -t pkgs < <(APT_CONFIG="$apt_dir/apt.conf" apt-cache depends --recurse \
        --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances criu | grep -E '^[a-z0-9]' | sort -u)
    [ "${#pkgs[@]}" -gt 1 ] || die "$CRIU_SUITE's criu has no dependency list"
    # apt-get download writes into the current directory. A fresh one, so exactly this
    # set is unpacked and then cached. (Sandbox user root above: _apt cannot write into
    # the private mktemp directories.)
    mkdir "$apt_dir/debs"
    (cd "$apt_dir/debs" && quietly env APT_CONFIG="$apt_dir/apt.conf" \
        apt-get download -q "${pkgs[@]}")
    rm -rf "$stage"
    mkdir -p "$stage/bin"
    for deb in "$apt_dir/debs/"*.deb; do
        quietly dpkg-deb -x "$deb" "$stage"
    done
    rm -f "$CRIU_CACHE/"*.deb
    mv "$apt_dir/debs/"*.deb "$CRIU_CACHE/"
    loader=$(find "$stage/usr/lib" -mindepth 2 -maxdepth 2 -name 'ld-linux*.so.*' -print -quit)
    [ -n "$loader" ] || die "no ld-linux in $CRIU_SUITE's libc6"
    libdir=${loader%/*}
    libdir=$CRIU_DIR${libdir#"$stage"}
    cat >"$stage/bin/criu" <<EOF
#!/bin/sh
# Installed by hutch's setup.sh: Debian $CRIU_SUITE's criu with its own loader and libraries.
exec "$libdir/${loader##*/}" --library-path "$libdir" "$CRIU_DIR/usr/sbin/criu" "\$@"
EOF
    chmod 755 "$stage/bin/criu"
    rm -rf "$CRIU_DIR"
    mv "$stage" "$CRIU_DIR"
    rm -rf "$apt_dir"
    trap - EXIT
}

install_criu() {
    [ -z "$(missing_packages iptables)" ] || apt_install iptables
    if criu_works "$CRIU_DIR/bin/criu"; then
        say "criu already installed in $CRIU_DIR"
        return
    fi
    fetch_criu
    criu_works "$CRIU_DIR/bin/criu" \
        || die "$CRIU_DIR/bin/criu check failed; run '$CRIU_DIR/bin/criu check' to see why"
    say "criu ready: $CRIU_DIR/bin/criu"
}

# A venv made by another interpreter (a pyenv one, or Python 3.11 before an upgrade to
# Debian 13) would break in odd ways later: recreate it instead.
venv_matches() {
    local cfg=$VENV/pyvenv.cfg version
    version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ -f "$cfg" ] && [ -x "$VENV/bin/python" ] \
        && grep -qx "home = $(dirname "$PYTHON")" "$cfg" \
        && grep -Eq "^version(_info)? = ${version//./\\.}(\.|$)" "$cfg" \
        && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1
}

install_venv() {
    [ -x "$PYTHON" ] || die "$PYTHON not found (apt-get install python3)"
    if ! venv_matches; then
        say "creating venv $VENV ..."
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        quietly "$PYTHON" -m venv "$VENV"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    say "upgrading pip ..."
    quietly "$VENV/bin/python" -m pip install -q --upgrade pip
    # Always reinstall: CI clones into a new folder each time, and the venv must point
    # at this checkout, not at the last one.
    if [ "$DEV" -eq 1 ]; then
        say "installing $CHECKOUT (editable, with dev tools) ..."
        quietly "$VENV/bin/python" -m pip install -q -e "${CHECKOUT}[dev]"
    else
        say "installing $CHECKOUT ..."
        quietly "$VENV/bin/python" -m pip install -q "$CHECKOUT"
    fi
    # Bytecode now, once: the CLI must start fast, and an environment with
    # PYTHONDONTWRITEBYTECODE set would otherwise recompile every module on every run.
    say "compiling bytecode ..."
    quietly env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -m compileall -q \
        "$CHECKOUT/src" "$($VENV/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
}

# libseccomp's Python binding comes only as a Debian package: link just its extension module
# into the venv (for the venv's Python version), not all of Debian's system site-packages.
link_seccomp_binding() {
    local suffix site so="" path
    suffix=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    while read -r path; do
        if [ "${path##*/}" = "seccomp$suffix" ]; then so=$path; fi
    done < <(dpkg -L python3-seccomp)
    [ -n "$so" ] || die "python3-seccomp has no seccomp$suffix for $("$VENV/bin/python" -V)"
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
    say "linking libseccomp's Python binding into $VENV ..."
    ln -sfn "$so" "$site/seccomp$suffix"
    "$VENV/bin/python" -c 'import seccomp' || die "seccomp does not import in $VENV"
}

link_commands() {
    local cmd
    say "linking commands into $LINK_DIR ..."
    mkdir -p "$LINK_DIR"
    for cmd in hutch hutchd; do
        if [ -x "$VENV/bin/$cmd" ]; then
            ln -sfn "$VENV/bin/$cmd" "$LINK_DIR/$cmd"
        elif [ -L "$LINK_DIR/$cmd" ] && [ "$(readlink "$LINK_DIR/$cmd")" = "$VENV/bin/$cmd" ]; then
            rm -f "$LINK_DIR/$cmd"  # ours, from an install that had the command
        fi
    done
    [ -x "$LINK_DIR/hutch" ] || die "$VENV/bin/hutch was not installed"
}

# Unprivileged containers map their IDs onto root's subordinate IDs (hutch.security.idmap).
# A root without a range gets the one Incus uses too: room for 15000 isolated containers.
SUBID_RANGE="1000000:1000000000"
ensure_subids() {
    local file
    for file in /etc/subuid /etc/subgid; do
        if ! grep -qE '^(root|0):[0-9]+:[0-9]+$' "$file" 2>/dev/null; then
            say "giving root the subordinate IDs $SUBID_RANGE in $file ..."
            echo "root:$SUBID_RANGE" >>"$file"
        fi
    done
}

# --dev: kernel + initramfs of the cgroup v2 test VM, cached in /var/cache/hutch-test/v2vm
prepare_v2vm() {
    say "preparing the cgroup v2 test VM ..."
    quietly "$PYTHON" "$CHECKOUT/tools/v2vm/run.py" --prepare
}

run_tests() {
    local dirs=() dir
    cd "$CHECKOUT"
    # Empty folders do not survive a git clone; ruff fails on a path that is not there.
    for dir in src tests bench tools; do
        [ -d "$dir" ] && dirs+=("$dir")
    done
    say "ruff check ${dirs[*]}"
    "$VENV/bin/ruff" check "${dirs[@]}"
    "$VENV/bin/ruff" format --check -q "${dirs[@]}"
    say "mypy src/hutch"
    "$VENV/bin/mypy" --no-error-summary
    say "pytest -q tests"
    exec "$VENV/bin/python" -m pytest -q tests
}

main() {
    parse_args "$@"
    [ "$(id -u)" -eq 0 ] || die "run as root"
    [ -f "$CHECKOUT/pyproject.toml" ] || die "$CHECKOUT is not a hutch checkout"
    export DEBIAN_FRONTEND=noninteractive
    install_packages
    install_criu
    install_venv
    link_seccomp_binding
    link_commands
    ensure_subids
    if [ "$DEV" -eq 1 ]; then
        prepare_v2vm
    fi
    say "done: $LINK_DIR/hutch -> $VENV/bin/hutch"
    if [ "$TEST" -eq 1 ]; then
        run_tests
    fi
}

main "$@"
