# SPDX-License-Identifier: GPL-2.0-or-later
"""The initramfs that ``memhp verify`` boots: busybox and an /init that prints what the
kernel decided, in the sections of the corpus serial logs.

The archive is a cpio "newc" archive (the format the kernel unpacks, see
Documentation/driver-api/early-userspace/buffer-format.rst), gzip-compressed.  memhp writes
it itself, deterministically (all mtimes 0, fixed inode numbers), and can read one back.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass

__all__ = ["CpioEntry", "INIT_SCRIPT", "NEWC_MAGIC", "TRAILER", "build_initramfs",
           "initramfs_entries", "read_newc", "write_newc"]

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
           "devminor", "rdevmajor", "rdevminor", "namesize", "check")
_HEADER_LEN = len(NEWC_MAGIC) + 8 * len(_FIELDS)  # 110

# /init, run by the kernel as PID 1.  Each section starts with a marker line; the offline
# trial runs only when "tryoffline" is on the kernel command line (init reads it from
# /proc/cmdline; the kernel itself ignores the word).
INIT_SCRIPT = r"""#!/bin/busybox sh
# memhp verify: report the boot memory layout on the console, then power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mem=/sys/devices/system/memory
zones_of() { cat "$1/valid_zones" 2>/dev/null | tr ' ' ','; }
blocks() {
  echo "block_size_bytes $(cat $mem/block_size_bytes)"
  for b in $mem/memory*; do
    nodes=$(ls -d $b/node* 2>/dev/null | xargs -n1 basename | tr '\n' ',')
    echo "$(basename $b) state=$(cat $b/state) phys_index=$(cat $b/phys_index)" \
      "valid_zones=$(zones_of $b) nodes=$nodes"
  done
}
nodes_meminfo() {
  for n in /sys/devices/system/node/node*; do
    basename $n
    head -n 3 $n/meminfo
  done
}
# after boot, with "hotplugtest": one command a line from the console (memhp verify plays
# a scenario's steps), as the corpus initramfs does
dump() {
  echo "=====STATE $1====="
  echo "-----DMESG_NEW-----"; dmesg -c
  echo "-----ZONEINFO-----"; cat /proc/zoneinfo
  echo "-----MEMORY_BLOCKS-----"; blocks
  echo "-----NODE_MEMINFO-----"; nodes_meminfo
  echo "=====END_STATE====="
}
count_blocks() { ls -d $mem/memory* | wc -l; }
wait_blocks() {
  i=0
  while [ $(count_blocks) -ne $1 ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  echo "blocks now $(count_blocks) (wanted $1, waited $((i / 10)) s)"
}
setstate() {
  for b in $mem/memory*; do
    n=${b##*/memory}
    [ "$n" -ge "$2" ] && [ "$n" -le "$3" ] || continue
    if echo $1 > $b/state 2>/dev/null; then r=ok; else r=failed; fi
    echo "$(basename $b) $1 result=$r state=$(cat $b/state) valid_zones=$(zones_of $b)"
  done
}
echo "=====CMDLINE====="
cat /proc/cmdline
echo "=====DMESG====="
dmesg
echo "=====ZONEINFO====="
cat /proc/zoneinfo
echo "=====IOMEM====="
cat /proc/iomem
echo "=====MEMORY_BLOCKS====="
blocks
echo "=====NODE_MEMINFO====="
nodes_meminfo
if [ -e /sys/firmware/acpi/tables/SRAT ]; then
  echo "=====ACPI_SRAT====="
  od -An -tx1 -v /sys/firmware/acpi/tables/SRAT
fi
if grep -qw tryoffline /proc/cmdline; then
  echo "=====OFFLINE_TRIAL====="
  for b in $mem/memory*; do
    z=$(zones_of $b)
    if echo offline > $b/state 2>/dev/null; then r=offlined; else r=failed; fi
    echo "$(basename $b) valid_zones=$z result=$r"
  done
fi
if grep -qw hotplugtest /proc/cmdline; then
  dmesg -c > /dev/null
  dmesg -n 1
  stty -echo 2>/dev/null
  echo "=====READY====="
  while read -r line; do
    [ "$line" = end ] && break
    echo "=====RUN $line====="
    case "$line" in
      dump\ *|wait_blocks\ *|setstate\ *) eval "$line" ;;
      *) echo "unknown command" ;;
    esac
    echo "=====DONE====="
  done
fi
echo "=====END====="
poweroff -f
"""


@dataclass(frozen=True)
class CpioEntry:
    """One member of a newc archive: a path without leading "/", its mode (type and
    permission bits), its contents (regular files and symlink targets) and, for device
    nodes, the device number."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)
    uid: int = 0
    gid: int = 0
    mtime: int = 0


def _pad4(n: int) -> int:
    return -n % 4


def write_newc(entries: list[CpioEntry]) -> bytes:
    """The newc archive of ``entries`` in the given order, with the trailer.

    Inode numbers count from 1 (every entry its own, nlink 2 for directories, else 1);
    the checksum field is 0 as newc (not crc) has it.
    """
    out = bytearray()

    def put(name: str, fields: dict[str, int], data: bytes) -> None:
        raw = name.encode("utf-8") + b"\0"
        fields = dict(fields, filesize=len(data), namesize=len(raw), check=0)
        out.extend(NEWC_MAGIC)
        for f in _FIELDS:
            value = fields.get(f, 0)
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError(f"cpio: {name}: {f}={value} does not fit in 32 bits")
            out.extend(b"%08X" % value)
        out.extend(raw)
        out.extend(b"\0" * _pad4(_HEADER_LEN + len(raw)))
        out.extend(data)
        out.extend(b"\0" * _pad4(len(data)))

    for ino, e in enumerate(entries, 1):
        name = e.name.lstrip("/")
        if not name or name == TRAILER:
            raise ValueError(f"cpio: bad member name {e.name!r}")
        if e.data and not (stat.S_ISREG(e.mode) or stat.S_ISLNK(e.mode)):
            raise ValueError(f"cpio: {name}: only files and symlinks have contents")
        put(name, {"ino": ino, "mode": e.mode, "uid": e.uid, "gid": e.gid,
                   "nlink": 2 if stat.S_ISDIR(e.mode) else 1, "mtime": e.mtime,
                   "rdevmajor": e.rdev[0], "rdevminor": e.rdev[1]}, e.data)
    put(TRAILER, {"nlink": 1}, b"")
    return bytes(out)


def read_newc(archive: bytes) -> list[CpioEntry]:
    """The members of a newc archive up to its trailer (ValueError if malformed)."""
    entries: list[CpioEntry] = []
    pos = 0
    while True:
        head = archive[pos : pos + _HEADER_LEN]
        if len(head) < _HEADER_LEN or head[:6] != NEWC_MAGIC:
            raise ValueError(f"cpio: no newc header at offset {pos}")
        try:
            v = {f: int(head[6 + 8 * i : 14 + 8 * i], 16) for i, f in enumerate(_FIELDS)}
        except ValueError:
            raise ValueError(f"cpio: bad header field at offset {pos}") from None
        name_start = pos + _HEADER_LEN
        raw_name = archive[name_start : name_start + v["namesize"]]
        if len(raw_name) != v["namesize"] or not raw_name.endswith(b"\0"):
            raise ValueError(f"cpio: truncated name at offset {name_start}")
        name = raw_name[:-1].decode("utf-8", "replace")
        data_start = name_start + v["namesize"] + _pad4(_HEADER_LEN + v["namesize"])
        data = archive[data_start : data_start + v["filesize"]]
        if len(data) != v["filesize"]:
            raise ValueError(f"cpio: {name}: truncated data")
        pos = data_start + v["filesize"] + _pad4(v["filesize"])
        if name == TRAILER:
            return entries
        entries.append(CpioEntry(name, v["mode"], data, (v["rdevmajor"], v["rdevminor"]),
                                 v["uid"], v["gid"], v["mtime"]))


def initramfs_entries(busybox: bytes, init_script: str = INIT_SCRIPT) -> list[CpioEntry]:
    """The members: the directories, /dev/console (so that init has a console even where
    the kernel's built-in initramfs lacks it), /bin/busybox and /init."""
    d = stat.S_IFDIR | 0o755
    return [
        CpioEntry("bin", d),
        CpioEntry("dev", d),
        CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        CpioEntry("proc", d),
        CpioEntry("sys", d),
        CpioEntry("bin/busybox", stat.S_IFREG | 0o755, busybox),
        CpioEntry("init", stat.S_IFREG | 0o755, init_script.encode("utf-8")),
    ]


def build_initramfs(busybox: bytes, init_script: str = INIT_SCRIPT) -> bytes:
    """The gzip-compressed newc archive (level 9, no timestamp: the same input always gives
    the same bytes, so the initrd and with it the ``RAMDISK:`` line are reproducible)."""
    return gzip.compress(write_newc(initramfs_entries(busybox, init_script)),
                         compresslevel=9, mtime=0)
