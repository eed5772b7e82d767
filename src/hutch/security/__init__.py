"""What confines a container beyond its namespaces.

* `capabilities`: the capability bounding set a container keeps (the default drop list, each
  entry with its reason; `security.cap_drop` / `security.cap_keep` adjust it).
* `seccomp_policy`: the default seccomp policy as a table (call or argument values -> EPERM,
  ENOSYS or allowed, each with its reason and what Docker, LXC and Incus do).
* `seccomp`: that table compiled to a classic BPF program by libseccomp (plus a short
  prologue of its own for value lists), with `security.seccomp_deny` on top.
* `confine`: the two applied together, to the init right before it execs and to every
  process `hutch exec`/`enter` starts, from one record kept in the container's run state, so
  an exec'd process is never less confined than the init.

Everything here is computed before the fork (after pivot_root or chroot the host's Python
library is out of reach); the forked child only makes the system calls.
"""
