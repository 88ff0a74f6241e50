# SPDX-License-Identifier: GPL-2.0-or-later
"""The QEMU virtual machine of ``memhp verify``: what to boot, its argument list, and
running it with a progress line and a timeout.

The VM is the corpus' (tests/fixtures/corpus/README.md): ``-machine TYPE,accel=tcg -cpu max
-m SIZE -smp N -acpitable file=srat.bin -kernel ... -initrd ... -append "console=ttyS0
nokaslr loglevel=7 memblock=debug tryoffline ..."`` (TCG as ``-machine TYPE -accel
tcg,thread=single``, see accel_arg), without ``-numa`` options (so the only
SRAT is the one given), then what keeps it quiet and self-contained: no network card, no
reboot after a panic, no display, the serial console on standard output.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from memhp.firmware.logline import strip_prefix
from memhp.firmware.types import E820_USABLE, Machine
from memhp.kernel.pfn import round_up
from memhp.kernel.smpboot import possible_cpus
from memhp.verify.hotplug import Player
from memhp.verify.kernel import BootTimeout, GuestPanic, VerifyError

__all__ = ["BASE_PARAMS", "FIRMWARES", "FOUR_GIB", "GiB", "MiB", "OFFLINE_PARAM", "OVMF_IMAGES",
           "PC_LOW_END", "Progress", "Q35_LOW_END", "QEMU", "RunResult", "VmSpec", "accel_arg",
           "base_cmdline", "check_accel", "check_qemu", "efi_params", "find_ovmf",
           "guess_machine_type", "high_usable", "low_usable_end", "make_append", "mem_arg",
           "own_params", "panic_headline", "qemu_args", "ram_mib", "run_vm", "spec_from_machine"]

QEMU = "qemu-system-x86_64"
FIRMWARES = ("seabios", "ovmf")
# Debian's ovmf package: the whole flash image, loadable with -bios as the corpus did
OVMF_IMAGES = ("/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd")
BASE_PARAMS = ("console=ttyS0", "nokaslr", "loglevel=7", "memblock=debug", "tryoffline")
OFFLINE_PARAM = "tryoffline"
RUNTIME_PARAM = "hotplugtest"  # init plays the runtime steps instead of an offline trial
GiB = 1 << 30
MiB = 1 << 20
FOUR_GIB = 4 * GiB
# where QEMU ends low RAM once the machine has more than fits below its PCI hole
PC_LOW_END = 3 * GiB
Q35_LOW_END = 2 * GiB
_GUESS_SLACK = 256 * MiB


@dataclass(frozen=True)
class VmSpec:
    """What the VM is: QEMU machine type, RAM, CPUs, SRAT and kernel command line."""

    machine_type: str
    mem_mib: int
    smp: int
    srat: bytes | None
    append: str
    accel: str = "tcg"
    notes: tuple[str, ...] = field(default_factory=tuple)
    firmware: str = "seabios"  # QEMU's default BIOS, or "ovmf" (UEFI, booted through -bios)
    mem: str | None = None  # the whole -m value (with slots=, maxmem=) when not just RAM
    extra_args: tuple[str, ...] = ()  # a runtime scenario's -numa, -object, -device


def base_cmdline(offline: bool = True) -> str:
    """The command line every verify boot starts with, with its trailing blank."""
    params = [p for p in BASE_PARAMS if offline or p != OFFLINE_PARAM]
    return " ".join(params) + " "


def own_params(raw: str) -> str:
    """A machine's own parameters: its command line without the words of the base line
    (``tryoffline`` included, which only verify's init reads).  Double-quoted values stay
    whole."""
    words = re.findall(r'(?:[^\s"]+|"[^"]*"?)+', raw)
    return " ".join(w for w in words if w not in BASE_PARAMS + (RUNTIME_PARAM,))


def make_append(own: str, offline: bool = True, runtime: bool = False) -> str:
    """``-append``: the base line followed by the machine's own parameters; a runtime
    scenario has ``hotplugtest`` where the offline trial's word would be."""
    if runtime:
        return base_cmdline(False) + RUNTIME_PARAM + " " + own.strip()
    return base_cmdline(offline) + own.strip()


def low_usable_end(machine: Machine) -> int:
    """The end of usable RAM below 4 GiB."""
    return max((min(e.end, FOUR_GIB) for e in machine.e820
                if e.type == E820_USABLE and e.start < FOUR_GIB), default=0)


def high_usable(machine: Machine) -> int:
    """Usable RAM above 4 GiB, in bytes."""
    return sum(e.end - max(e.start, FOUR_GIB) for e in machine.e820
               if e.type == E820_USABLE and e.end > FOUR_GIB)


def ram_mib(machine: Machine) -> int:
    """``-m`` in MiB: the usable end below 4 GiB rounded up to 1 MiB, plus all usable RAM
    above 4 GiB (QEMU maps RAM beyond its PCI hole from 4 GiB on)."""
    low = round_up(low_usable_end(machine), MiB)
    return (low + high_usable(machine)) // MiB


def guess_machine_type(machine: Machine) -> tuple[str, str | None]:
    """machine.qemu_machine, else a guess from where low RAM ends: near 3 GiB is ``pc``
    (i440fx), near 2 GiB ``q35``.  The second value says how it was chosen (None if the
    machine file named it)."""
    if machine.qemu_machine:
        return machine.qemu_machine, None
    low = low_usable_end(machine)
    if high_usable(machine) and abs(low - Q35_LOW_END) <= _GUESS_SLACK:
        return "q35", f"guessed q35: usable RAM below 4 GiB ends at {low:#x}, near 2 GiB"
    if high_usable(machine) and abs(low - PC_LOW_END) <= _GUESS_SLACK:
        return "pc", f"guessed pc: usable RAM below 4 GiB ends at {low:#x}, near 3 GiB"
    return "pc", (f"no qemu_machine in the machine file and usable RAM below 4 GiB ends at "
                  f"{low:#x}: using pc")


def efi_params(own: str, firmware: str) -> str:
    """Under OVMF, ``efi=debug`` joins the machine's parameters (unless an ``efi=`` is
    there): the kernel then prints the EFI memory map, which the prediction reads."""
    if firmware != "ovmf" or any(w.startswith("efi=") for w in own.split()):
        return own
    return f"{own} efi=debug".strip()


def spec_from_machine(machine: Machine, srat: bytes | None, cmdline: str | None = None,
                      offline: bool = True, accel: str = "tcg",
                      firmware: str = "seabios") -> VmSpec:
    """The VM for a machine model; ``cmdline`` replaces the machine's own parameters."""
    mtype, how = guess_machine_type(machine)
    apics, source = possible_cpus(machine)
    notes = [how] if how else []
    if source.startswith("nothing"):
        notes.append("the machine file gives no CPU count: -smp 1")
    own = efi_params(own_params(machine.cmdline.raw if cmdline is None else cmdline), firmware)
    return VmSpec(mtype, ram_mib(machine), len(apics), srat, make_append(own, offline), accel,
                  tuple(notes), firmware)


def mem_arg(mib: int) -> str:
    """``-m``: whole GiB as ``NG`` (as the corpus wrote it), else ``NM``."""
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def qemu_args(spec: VmSpec, kernel: str, initrd: str, srat_path: str | None,
              qmp_path: str | None = None) -> list[str]:
    """The argument list: the corpus' arguments in the corpus' order, then the console and
    housekeeping options (and the QMP socket of a runtime scenario)."""
    args = [QEMU, "-machine", spec.machine_type, "-accel", accel_arg(spec.accel), "-cpu", "max",
            "-m", spec.mem or mem_arg(spec.mem_mib), "-smp", str(spec.smp),
            *spec.extra_args]
    if spec.srat is not None:
        if srat_path is None:
            raise ValueError("the VM has an SRAT but no file for it")
        args += ["-acpitable", f"file={srat_path}"]
    if spec.firmware == "ovmf":
        args += ["-bios", find_ovmf()]
    args += ["-kernel", kernel, "-initrd", initrd, "-append", spec.append]
    args += ["-nic", "none", "-no-reboot", "-nographic", "-monitor", "none", "-serial", "stdio"]
    if qmp_path is not None:
        args += ["-qmp", f"unix:{qmp_path},server=on,wait=off"]
    return args


def accel_arg(accel: str) -> str:
    """``-accel``: KVM as it is; TCG with one thread for all vCPUs.  The corpus booted with
    ``-machine TYPE,accel=tcg``, multi-threaded TCG (a host thread per vCPU), where a vCPU
    can run a stale ``int3`` the kernel's text patching (``text_poke_bp``, e.g. when the
    clocksource switches to the TSC) left in code another vCPU has already restored: the
    kernel then oopses ("Oops: int3 ... Fatal exception in interrupt"), seen on Debian's 7.2
    about one boot in four under OVMF and once in CI.  Run in turn, the vCPUs never see a
    half-patched instruction; memory layout does not depend on it, and on a busy 2-core
    machine the boot is faster (an OVMF 7.2 boot: 8.6 s against 26 s)."""
    return "tcg,thread=single" if accel == "tcg" else accel


def find_ovmf() -> str:
    """OVMF's flash image, or a VerifyError naming the package."""
    for path in OVMF_IMAGES:
        if os.path.isfile(path):
            return path
    raise VerifyError(f"--firmware ovmf: no OVMF image ({', '.join(OVMF_IMAGES)}): install "
                      "package ovmf (.ci/verify-deps does)")


def check_qemu() -> str:
    """The path of qemu-system-x86_64, or a VerifyError."""
    path = shutil.which(QEMU)
    if path is None:
        raise VerifyError(f"{QEMU} not found: install package qemu-system-x86 "
                          "(.ci/verify-deps does)")
    return path


def check_accel(accel: str) -> None:
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise VerifyError("--accel kvm: /dev/kvm is missing or not accessible")


@dataclass
class RunResult:
    """A finished VM: its console output, exit status and wall-clock time."""

    console: bytes
    returncode: int
    seconds: float
    stderr: str


_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-z]|[A-Za-z])")
_MARKER = re.compile(r"^=====([A-Z_]+)=====")


class Progress:
    """The progress indicator on stderr: on a terminal one self-updating line (elapsed
    seconds, the section of the init script, the last console line), else one line at the
    start and one at the end."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.label = label
        self.start = time.monotonic()
        self.section = "boot"
        self.last = ""
        self.shown = 0.0

    def begin(self) -> None:
        if not self.tty:
            self.stream.write(f"memhp verify: booting {self.label} ...\n")
            self.stream.flush()

    def line(self, text: str) -> None:
        """One console line (raw, as captured)."""
        clean = _ANSI.sub("", text).replace("\r", "").strip()
        m = _MARKER.match(clean)
        if m:
            self.section = m.group(1).lower()
        elif clean:
            self.last = strip_prefix(clean)

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tty or (not force and now - self.shown < 0.5):
            return
        self.shown = now
        width = shutil.get_terminal_size((100, 20)).columns
        msg = f"{now - self.start:5.0f}s  [{self.section}] {self.last}"
        self.stream.write("\r\x1b[K" + msg[: max(width - 1, 10)])
        self.stream.flush()

    def end(self, outcome: str) -> None:
        seconds = time.monotonic() - self.start
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"memhp verify: {self.label}: {outcome} after {seconds:.1f} s\n")
        self.stream.flush()


# the console lines that end a panic, and those that say what went wrong before it
_PANIC_END = "---[ end Kernel panic"
_PANIC = re.compile(r"Kernel panic - not syncing: .*")
_OOPS = re.compile(r"(BUG: .*|Oops: .*|kernel BUG at .*|general protection fault.*|RIP: .*)")
_RECENT_LINES = 200


def panic_headline(lines: Iterable[str]) -> str:
    """What a panicking kernel said: its ``Kernel panic - not syncing`` reason and the first
    oops lines before it (``BUG:``, ``Oops:``, ``RIP:`` ...), for a one-line error."""
    said: list[str] = []
    reason = ""
    for line in lines:
        if _PANIC_END in line:
            continue
        if m := _PANIC.search(line):
            reason = reason or m.group(0).strip()
        elif (m := _OOPS.search(line)) and len(said) < 3 and m.group(0) not in said:
            said.append(m.group(0).strip())
    return "; ".join([reason or "Kernel panic", *said])


def run_vm(args: list[str], log_path: Path, timeout: float,
           progress: Progress | None = None,
           on_line: Callable[[str], None] | None = None,
           player: Player | None = None) -> RunResult:
    """Run QEMU, copying the serial console to ``log_path`` as it comes; kill it after
    ``timeout`` seconds (BootTimeout, the log so far stays), or as soon as the kernel has
    finished printing a panic (GuestPanic: QEMU runs with ``-no-reboot`` but a panicked
    kernel without ``panic=`` spins until the timeout).  A ``player`` gets every console
    line and may write to the console (QEMU's standard input) and into the log."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE if player else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise VerifyError(f"cannot start {args[0]}: {e.strerror}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    console = bytearray()
    if player is not None:
        stdin = proc.stdin
        assert stdin is not None

        def to_console(data: bytes) -> None:
            try:
                stdin.write(data)
                stdin.flush()
            except OSError:
                pass  # QEMU is gone; its exit status tells

        player.write_stdin = to_console
    errors = bytearray()
    pending = b""
    recent: deque[str] = deque(maxlen=_RECENT_LINES)
    open_fds = {out, err}
    if progress:
        progress.begin()
    try:
        with open(log_path, "wb") as log:
            if player is not None:
                def to_log(text: str) -> None:
                    log.write(text.encode())
                    console.extend(text.encode())
                player.write_log = to_log
            while open_fds:
                left = start + timeout - time.monotonic()
                if left <= 0:
                    proc.kill()
                    proc.wait()
                    last = progress.last if progress else ""
                    if progress:
                        progress.end("timed out")
                    if any(_PANIC.search(line) for line in recent):
                        raise GuestPanic(f"the booted kernel panicked: {panic_headline(recent)}"
                                         f" (console: {log_path})")
                    raise BootTimeout(f"timeout: the VM did not finish in {timeout:g} s "
                                      f"(last console line: {last or 'none'!r})")
                ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.25))
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        open_fds.discard(fd)
                        continue
                    if fd == err:
                        errors.extend(chunk)
                        continue
                    console.extend(chunk)
                    log.write(chunk)
                    log.flush()
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        text = raw.decode("utf-8", "replace")
                        if progress:
                            progress.line(text)
                        if on_line:
                            on_line(text)
                        if player is not None:
                            player.on_line(text)
                        recent.append(text)
                        if _PANIC_END in text:
                            proc.kill()
                            proc.wait()
                            if progress:
                                progress.end("kernel panic")
                            raise GuestPanic("the booted kernel panicked: "
                                             f"{panic_headline(recent)} (console: {log_path})")
                if progress:
                    progress.tick()
            rc = proc.wait(timeout=max(1.0, start + timeout - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BootTimeout(f"timeout: QEMU did not exit within {timeout:g} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        if proc.stdin is not None:
            proc.stdin.close()
    seconds = time.monotonic() - start
    if progress:
        progress.end(f"QEMU exited with status {rc}" if rc else "VM powered off")
    return RunResult(bytes(console), rc, seconds, errors.decode("utf-8", "replace"))
