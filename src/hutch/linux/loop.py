"""Loop devices (linux/loop.h) and the ext4 online resize ioctl, as hutch needs them.

A container's image is attached with LO_FLAGS_AUTOCLEAR from inside its own mount namespace
and mounted there: the mount holds the device, so when the namespace goes (the container
stops, hutchd crashes, the helper exits) the kernel detaches the loop device by itself.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_GET_STATUS64 = 0x4C05
LOOP_SET_CAPACITY = 0x4C07
LOOP_CONFIGURE = 0x4C0A

LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4
LO_NAME_SIZE = 64

# struct loop_info64: 5 x u64, 4 x u32, file name, crypt name, key, 2 x u64 init
_INFO64 = struct.Struct("=QQQQQIIII64s64s32s2Q")
# struct loop_config: u32 fd, u32 block_size, loop_info64, 8 x u64 reserved
_CONFIG = struct.Struct(f"=II{_INFO64.size}s64x")

EXT4_IOC_RESIZE_FS = 0x40086610  # _IOW('f', 16, __u64)

_GET_FREE_TRIES = 16


def _oserror(e: OSError, call: str, obj: str) -> OSError:
    return OSError(e.errno, f"{call} {obj}: {os.strerror(e.errno or 0)}")


def _info64(path: str, flags: int) -> bytes:
    name = os.fsencode(path)[: LO_NAME_SIZE - 1]
    return _INFO64.pack(0, 0, 0, 0, 0, 0, 0, 0, flags, name, b"", b"", 0, 0)


def loop_ctl_get_free() -> int:
    """The number of a free loop device (the kernel makes one if needed)."""
    fd = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, LOOP_CTL_GET_FREE)
    except OSError as e:
        raise _oserror(e, "ioctl(LOOP_CTL_GET_FREE)", "/dev/loop-control") from None
    finally:
        os.close(fd)


def loop_configure(loop_fd: int, backing_fd: int, path: str, flags: int) -> None:
    """LOOP_CONFIGURE, or LOOP_SET_FD + LOOP_SET_STATUS64 on kernels before 5.8."""
    try:
        fcntl.ioctl(loop_fd, LOOP_CONFIGURE, _CONFIG.pack(backing_fd, 0, _info64(path, flags)))
        return
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTTY):
            raise
    fcntl.ioctl(loop_fd, LOOP_SET_FD, backing_fd)
    try:
        fcntl.ioctl(loop_fd, LOOP_SET_STATUS64, _info64(path, flags))
    except OSError:
        fcntl.ioctl(loop_fd, LOOP_CLR_FD, 0)
        raise


def attach(image: str, read_only: bool = False) -> tuple[str, int]:
    """Attach `image` to a free loop device with autoclear: (device path, open fd).

    The device stays attached while the fd is open or the device is mounted; close the fd
    once it is mounted and it goes away with the mount."""
    mode = os.O_RDONLY if read_only else os.O_RDWR
    backing = os.open(image, mode | os.O_CLOEXEC)
    try:
        flags = LO_FLAGS_AUTOCLEAR | (LO_FLAGS_READ_ONLY if read_only else 0)
        for _ in range(_GET_FREE_TRIES):
            dev = f"/dev/loop{loop_ctl_get_free()}"
            try:
                loop_fd = os.open(dev, mode | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # udev-less hosts: the node appears a moment later
            try:
                loop_configure(loop_fd, backing, image, flags)
            except OSError as e:
                os.close(loop_fd)
                if e.errno == errno.EBUSY:  # taken by someone else meanwhile: next one
                    continue
                raise _oserror(e, "ioctl(LOOP_CONFIGURE)", f"{dev} {image}") from None
            return dev, loop_fd
        raise OSError(errno.EBUSY, f"attach {image}: no free loop device")
    finally:
        os.close(backing)


def loop_set_capacity(dev: str) -> None:
    """Make the loop device see its backing file's new size."""
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, LOOP_SET_CAPACITY, 0)
    except OSError as e:
        raise _oserror(e, "ioctl(LOOP_SET_CAPACITY)", dev) from None
    finally:
        os.close(fd)


def devices_of(image: str) -> list[str]:
    """The loop devices `image` is attached to (by path and inode), e.g. ['/dev/loop3']."""
    st = os.stat(image)
    found = []
    try:
        names = os.listdir("/sys/block")
    except FileNotFoundError:
        return []
    for name in names:
        if not name.startswith("loop"):
            continue
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as f:
                backing = f.read().rstrip("\n")
        except OSError:
            continue
        if backing.removesuffix(" (deleted)") != os.path.abspath(image):
            continue
        try:
            fd = os.open(f"/dev/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = _INFO64.unpack(fcntl.ioctl(fd, LOOP_GET_STATUS64, bytes(_INFO64.size)))
        except OSError:
            continue
        finally:
            os.close(fd)
        if info[1] == st.st_ino:
            found.append(f"/dev/{name}")
    return found


def ext4_resize_fs(mount_dir: str, blocks: int) -> None:
    """EXT4_IOC_RESIZE_FS: grow the mounted ext4 filesystem at `mount_dir` (any directory of
    it) to `blocks` blocks, what `resize2fs` does online, without needing the device path
    in the namespace the filesystem is mounted in."""
    fd = os.open(mount_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, EXT4_IOC_RESIZE_FS, struct.pack("=Q", blocks))
    except OSError as e:
        raise _oserror(e, "ioctl(EXT4_IOC_RESIZE_FS)", mount_dir) from None
    finally:
        os.close(fd)
