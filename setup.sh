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
    install_venv
    link_commands
    if [ "$DEV" -eq 1 ]; then
        prepare_v2vm
    fi
    say "done: $LINK_DIR/hutch -> $VENV/bin/hutch"
    if [ "$TEST" -eq 1 ]; then
        run_tests
    fi
}

main "$@"
