"""host: network.mode = "host", the container shares the host's network namespace. It
gets none of its own, so no links, no filter and no NAT of its own; its /sys is mounted
outside (hutch.container.mounts)."""

from __future__ import annotations

NAME = "host"
OWN_NETNS = False
