"""Storage: where a container's root filesystem comes from and where it lives.

Two concerns, kept apart so either can change without the other:

* **Templates** produce a pristine root filesystem once and keep it in the template
  cache (`Paths.cache`): the built-in `busybox` template made from the host's static
  busybox (`hutch.storage.busybox`, no network, well under a second), Debian-family
  trees made by debootstrap, and tarballs imported from OpenVZ or LXC caches.
* **Rootfs backends** (`hutch.storage.backends`, one module each behind one `Backend`
  interface) turn a template into one container's root: a plain directory copy, an
  overlay (template as the read-only lower layer), or an image file on a loop device,
  which gives the per-container disk quota OpenVZ users expect. Snapshots and clones are
  operations of the backend that owns the rootfs.

Storage sits below the config: it takes plain values (paths, sizes in bytes, idmaps),
which `hutch.container.rootfs` builds from a container's config.

Every builder creates its result beside the destination and renames it into place at the
end, so a failure never leaves a half-made tree behind.
"""
