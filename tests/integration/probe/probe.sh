#!/bin/sh
# hutch's in-container probe (busybox sh): prints what the container sees from the inside,
# as sections "@@ NAME" followed by raw lines. The tests copy it into a rootfs, run it with
# `hutch exec ID /bin/sh /probe.sh` and parse the sections (see conftest.Probe).
# It only reads, except two writes that must fail (read-only /sys and /proc/sys).

section() { echo "@@ $1"; }

section hostname
hostname
section proc_hostname
cat /proc/sys/kernel/hostname
section self_pid
echo $$
section pid1_comm
cat /proc/1/comm
section pid1_environ
tr '\0' '\n' </proc/1/environ
section procs
for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    echo "${p#/proc/} $cmd"
done
section netdevs
ls -1 /sys/class/net
section lo_flags
cat /sys/class/net/lo/flags
section mountinfo
cat /proc/self/mountinfo
section dev
for n in $(ls -A /dev); do
    f=/dev/$n
    if [ -L "$f" ]; then t="link $(readlink "$f")"
    elif [ -c "$f" ]; then t="char $(stat -c '%t:%T' "$f")"
    elif [ -S "$f" ]; then t=socket
    elif [ -d "$f" ]; then t=dir
    else t=other
    fi
    echo "$n $t"
done
section write_sys
touch /sys/hutch-probe 2>&1 && echo WRITABLE
section write_proc_sys
(: >/proc/sys/kernel/hostname) 2>&1 && echo WRITABLE
section end
