# SPDX-License-Identifier: GPL-2.0-or-later
"""The pieces ``memhp verify`` boots, got the way a Debian user gets them.

* The kernel: ``linux-image-amd64`` depends on one versioned package
  (``linux-image-6.1.0-NN-amd64``); that package is downloaded with ``apt-get download``
  and its ``boot/vmlinuz-*`` unpacked into the cache (``$MEMHP_CACHE``, else
  ``~/.cache/memhp``).  Only the image is unpacked: the modules (most of the package) are
  not needed to boot an initramfs.  A named kernel package (a profile's
  ``debian_package``) is fetched the same way; Debian's 7.x kernels are split, the
  ``linux-image-*`` package being empty and depending on ``linux-binary-*``, which ships
  ``usr/lib/modules/RELEASE/vmlinuz``: that one is downloaded instead.
* busybox: /bin/busybox if it is a static x86_64 binary (no ``PT_INTERP`` program header),
  else the one from package ``busybox-static``, unpacked into the cache.

* ``--kernel VERSION`` (``memhp verify --kernel 6.12``): the package of the generation's
  profile, which only the Debian suite that ships it has (.ci/verify-deps adds trixie and
  sid as apt sources, pinned low).

``python -m memhp.verify.kernel --fetch [--profile NAME ...]`` fetches them ahead of time
(for CI).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from memhp.errors import InputError
from memhp.kernel.profile import all_profiles, load_profile, profile_for_kernel

__all__ = ["BUSYBOX_PACKAGE", "META_PACKAGE", "SYSTEM_BUSYBOX", "BootTimeout", "GuestPanic",
           "VerifyError", "cache_dir", "cached_kernels", "elf_static_x86_64", "fetch_kernel",
           "fetch_kernel_package", "find_busybox", "find_kernel", "image_package", "main",
           "versioned_kernel_package"]

META_PACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"
SYSTEM_BUSYBOX = Path("/bin/busybox")
_PT_INTERP = 3
_EM_X86_64 = 62


class VerifyError(Exception):
    """Something verify needs is missing or went wrong: one line, exit status 2."""


class GuestPanic(VerifyError):
    """The booted kernel panicked, so the boot gave no ground truth to compare with: one
    line (the panic and the first oops line), exit status 3.  Not a verdict on memhp's
    prediction; a caller may boot again."""


class BootTimeout(VerifyError):
    """The VM did not finish within the timeout (a guest that hung, or a host too slow
    for it), so the boot gave no ground truth either: exit status 4.  A caller may boot
    again, or give a longer ``--timeout``."""


def cache_dir() -> Path:
    """``$MEMHP_CACHE`` or ``~/.cache/memhp``."""
    env = os.environ.get("MEMHP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "memhp"


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise VerifyError(f"cannot run {argv[0]}: {e.strerror}") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "dpkg-deb: error"))]
    return (errors or lines or ["no output"])[-1]


def versioned_kernel_package() -> str:
    """The package ``linux-image-amd64`` depends on, from ``apt-cache depends``."""
    if shutil.which("apt-cache") is None:
        raise VerifyError("no kernel: apt-cache not found (not a Debian system?); "
                          "give --kernel PATH")
    r = _run(["apt-cache", "depends", META_PACKAGE])
    names = re.findall(r"^\s*\|?Depends:\s*(linux-image-\S+)", r.stdout, re.MULTILINE)
    if r.returncode != 0 or not names:
        raise VerifyError(f"no kernel: 'apt-cache depends {META_PACKAGE}' names no "
                          f"linux-image package ({_last_line(r.stderr + r.stdout)}); run "
                          "'apt-get update' or give --kernel PATH")
    return str(names[0])


def _download(package: str, into: Path) -> Path:
    """``apt-get download PACKAGE`` in ``into``; the .deb it wrote."""
    if shutil.which("apt-get") is None:
        raise VerifyError(f"cannot fetch {package}: apt-get not found")
    r = _run(["apt-get", "download", package], cwd=into)
    debs = sorted(into.glob(f"{package}_*.deb"))
    if r.returncode != 0 or not debs:
        raise VerifyError(f"cannot fetch {package}: 'apt-get download {package}' failed: "
                          f"{_last_line(r.stderr + r.stdout)}")
    return debs[-1]


def _is_image(name: str) -> bool:
    """A kernel image path inside a package: ``boot/vmlinuz-*`` (up to 6.x) or
    ``usr/lib/modules/RELEASE/vmlinuz`` (Debian's split 7.x packages)."""
    parts = name.split("/")
    return ((len(parts) == 2 and parts[0] == "boot" and parts[1].startswith("vmlinuz-"))
            or (len(parts) == 5 and parts[:3] == ["usr", "lib", "modules"]
                and parts[4] == "vmlinuz"))


def _extract_boot(deb: Path, dest: Path) -> None:
    """Unpack the ``boot/`` files and the kernel image of a kernel package into ``dest``
    (``dpkg-deb --fsys-tarfile``, read as a stream)."""
    if shutil.which("dpkg-deb") is None:
        raise VerifyError(f"cannot unpack {deb.name}: dpkg-deb not found")
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as p:
        assert p.stdout is not None
        try:
            with tarfile.open(fileobj=p.stdout, mode="r|") as tar:
                for member in tar:
                    name = member.name.removeprefix("./")
                    if ((name.startswith("boot/") and (member.isfile() or member.isdir()))
                            or (_is_image(name) and member.isfile())):
                        tar.extract(member, dest, filter="data")
        except tarfile.TarError as e:
            raise VerifyError(f"cannot unpack {deb.name}: {e}") from None
        p.stdout.read()
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode != 0:
        raise VerifyError(f"cannot unpack {deb.name}: {_last_line(err)}")


_IMAGE_GLOBS = ("boot/vmlinuz-*", "usr/lib/modules/*/vmlinuz")


def _vmlinuz_in(folder: Path) -> Path | None:
    found = sorted(p for g in _IMAGE_GLOBS for p in folder.glob(g))
    return found[-1] if found else None


def cached_kernels() -> list[Path]:
    """Every kernel image of the ``boot/vmlinuz-*`` layout already in the cache (what
    :func:`fetch_kernel` falls back to offline; the split 7.x packages are only ever
    fetched by name)."""
    root = cache_dir() / "kernel"
    return sorted(root.glob(f"*/{_IMAGE_GLOBS[0]}")) if root.is_dir() else []


def image_package(package: str) -> str:
    """The package that holds the image of kernel package ``package``: itself, or the
    ``linux-binary-*`` package it depends on (Debian's split 7.x kernel packages)."""
    if shutil.which("apt-cache") is None:
        raise VerifyError(f"cannot fetch {package}: apt-cache not found (not a Debian "
                          "system?); give --kernel PATH")
    r = _run(["apt-cache", "depends", package])
    if r.returncode != 0:
        raise VerifyError(f"cannot fetch {package}: 'apt-cache depends {package}' failed "
                          f"({_last_line(r.stderr + r.stdout)}); is its suite in the apt "
                          "sources (see .ci/verify-deps)?")
    binary = re.findall(r"^\s*\|?Depends:\s*(linux-binary-\S+)", r.stdout, re.MULTILINE)
    return str(binary[0]) if binary else package


def fetch_kernel_package(package: str, log: bool = True) -> Path:
    """The image of the kernel package ``package`` (``linux-image-7.2.13+deb14-amd64``),
    from the cache or downloaded into it."""
    folder = cache_dir() / "kernel" / package
    image = _vmlinuz_in(folder)
    if image is not None:
        return image
    source = image_package(package)
    if log:
        print(f"memhp verify: fetching {source} into {folder}", file=sys.stderr)
    return _fetch_into(source, folder)


def fetch_kernel(log: bool = True) -> Path:
    """The current Debian kernel image, from the cache or downloaded into it."""
    try:
        package = versioned_kernel_package()
    except VerifyError:
        cached = cached_kernels()
        if cached:  # offline, or apt has no lists: take what an earlier run fetched
            return cached[-1]
        raise
    folder = cache_dir() / "kernel" / package
    image = _vmlinuz_in(folder)
    if image is not None:
        return image
    if log:
        print(f"memhp verify: fetching {package} into {folder}", file=sys.stderr)
    try:
        return _fetch_into(package, folder)
    except VerifyError as e:
        cached = cached_kernels()
        if not cached:
            raise
        print(f"memhp verify: warning: {e}; using {cached[-1]} from the cache",
              file=sys.stderr)
        return cached[-1]


def _fetch_into(package: str, folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
        deb = _download(package, Path(tmp))
        unpacked = Path(tmp) / "root"
        _extract_boot(deb, unpacked)
        if _vmlinuz_in(unpacked) is None:
            raise VerifyError(f"no kernel: package {package} has no boot/vmlinuz-* or "
                              "usr/lib/modules/*/vmlinuz")
        if folder.exists():
            shutil.rmtree(folder)
        unpacked.rename(folder)
    image = _vmlinuz_in(folder)
    assert image is not None
    return image


def kernel_for_version(version: str, log: bool = True) -> Path:
    """The Debian kernel of a generation memhp has a profile for: ``6.12``, its release
    (``6.12.117+deb13-amd64``) or its package version (``6.12.117-1``); the profile names
    the package, which only the Debian suite that ships it has (trixie for 6.12)."""
    try:
        prof = profile_for_kernel(version, "--kernel")
    except InputError as e:
        raise VerifyError(f"no kernel: {e}") from None
    if prof.chosen_note:
        have = ", ".join(f"{p.kernel_version} ({p.debian_package}, Debian {p.debian_suite})"
                         for p in all_profiles())
        raise VerifyError(f"no kernel: memhp knows no Debian kernel {version}; it has {have}")
    return fetch_kernel_package(prof.debian_package, log)


def find_kernel(spec: str | None) -> Path:
    """``--kernel PATH`` if that file exists; else ``--kernel VERSION`` (a generation, release
    or Debian package version: :func:`kernel_for_version`); else :func:`fetch_kernel`."""
    if spec is None:
        return fetch_kernel()
    p = Path(spec)
    if p.is_file():
        return p
    if "/" not in spec and re.match(r"\d+\.\d+", spec):
        return kernel_for_version(spec)
    raise VerifyError(f"no kernel: --kernel {spec}: no such file, nor a kernel version "
                      "like 6.12")


def elf_static_x86_64(path: Path) -> bool:
    """Whether ``path`` is an x86_64 ELF executable without a ``PT_INTERP`` program header
    (that is, one that runs without a dynamic loader)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return False  # not ELF64 little endian
            machine = struct.unpack_from("<H", head, 18)[0]
            phoff = struct.unpack_from("<Q", head, 32)[0]
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            if machine != _EM_X86_64 or phentsize < 4:
                return False
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    if len(table) < phentsize * phnum:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != _PT_INTERP
               for i in range(phnum))


def find_busybox(log: bool = True) -> Path:
    """A static busybox: /bin/busybox if static, else package busybox-static's, unpacked into
    the cache (downloaded once)."""
    if elf_static_x86_64(SYSTEM_BUSYBOX):
        return SYSTEM_BUSYBOX
    folder = cache_dir() / BUSYBOX_PACKAGE
    cached = folder / "bin" / "busybox"
    if elf_static_x86_64(cached):
        return cached
    if log:
        print(f"memhp verify: /bin/busybox is not a static binary; fetching {BUSYBOX_PACKAGE}",
              file=sys.stderr)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
            deb = _download(BUSYBOX_PACKAGE, Path(tmp))
            r = _run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")])
            if r.returncode != 0:
                raise VerifyError(f"cannot unpack {deb.name}: {_last_line(r.stderr)}")
            if folder.exists():
                shutil.rmtree(folder)
            (Path(tmp) / "root").rename(folder)
    except VerifyError as e:
        raise VerifyError(f"no static busybox: /bin/busybox is missing or dynamic, and {e}; "
                          f"install {BUSYBOX_PACKAGE}") from None
    if not elf_static_x86_64(cached):
        raise VerifyError(f"no static busybox: package {BUSYBOX_PACKAGE} has no static "
                          "bin/busybox")
    return cached


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m memhp.verify.kernel",
                                description="Fetch what 'memhp verify' boots into the cache.")
    p.add_argument("--fetch", action="store_true",
                   help="download the Debian kernel (and busybox-static if needed)")
    p.add_argument("--profile", metavar="NAME", action="append", default=[],
                   help="with --fetch, also the kernel package a profile was measured on "
                   "(its debian_package; see 'memhp profiles')")
    args = p.parse_args(argv)
    kernel: Path | None
    busybox: Path | None
    try:
        if args.fetch:
            kernel, busybox = fetch_kernel(), find_busybox()
            for name in args.profile:
                print(f"{name}: {fetch_kernel_package(load_profile(name).debian_package)}")
        else:
            cached = cached_kernels()
            kernel = cached[-1] if cached else None
            busybox = next((b for b in (SYSTEM_BUSYBOX, cache_dir() / BUSYBOX_PACKAGE / "bin"
                                        / "busybox") if elf_static_x86_64(b)), None)
    except (VerifyError, InputError) as e:
        print(f"memhp: error: {e}", file=sys.stderr)
        return 2
    print(f"cache:   {cache_dir()}")
    print(f"kernel:  {kernel if kernel else 'not fetched'}")
    print(f"busybox: {busybox if busybox else 'not found'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
