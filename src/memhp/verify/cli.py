# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp verify``: boot the real kernel in QEMU on the machine and diff it against the
prediction.

    memhp verify MACHINE.toml [--cmdline STR] [--kernel PATH|VERSION] [--keep DIR] [--timeout S]
                 [--accel tcg|kvm] [--no-offline] [--format text|json] [--profile NAME]
    memhp verify --scenario scenario.json [...]

Exit status: 0 when every compared group matches, 1 when some differ, 2 on errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memhp.errors import InputError
from memhp.firmware import bootlog
from memhp.firmware.acpi import encode_srat
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.types import Machine, Srat
from memhp.kernel.profile import KernelProfile, choose_profile
from memhp.kernel.setup import boot
from memhp.output.json_facts import facts
from memhp.verify import compare, initramfs, kernel, qemu, scenario
from memhp.verify.hotplug import Player
from memhp.verify.kernel import BootTimeout, GuestPanic, VerifyError

__all__ = ["DEFAULT_TIMEOUT", "Verdict", "add_arguments", "cmd_verify", "firmware_differences",
           "profile_note", "render_json", "render_text", "verify"]

DEFAULT_TIMEOUT = 300.0
_PANIC = re.compile(r"Kernel panic - .*$", re.MULTILINE)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("machine", nargs="?", help="machine file (TOML)")
    p.add_argument("--scenario", metavar="JSON",
                   help="a corpus scenario.json instead of a machine file")
    p.add_argument("--cmdline", metavar="STR",
                   help="kernel parameters replacing the machine's own (verify always puts "
                   f"'{qemu.base_cmdline().strip()}' first)")
    p.add_argument("--kernel", metavar="PATH|VERSION",
                   help="kernel image to boot, or a kernel generation memhp has a profile for "
                   "(6.1, 6.12, 7.2, or its release or Debian package version), fetched from "
                   "the Debian suite that ships it (default: Debian's linux-image-amd64); "
                   "fetched kernels are kept in $MEMHP_CACHE or ~/.cache/memhp")
    p.add_argument("--keep", metavar="DIR", help="keep serial.log, srat.bin, initrd.gz, "
                   "qemu-args.json and prediction.json in DIR")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"kill QEMU after S seconds (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--accel", choices=("tcg", "kvm"), default="tcg",
                   help="QEMU accelerator (default tcg, as the corpus; under kvm '-cpu max' "
                   "is the host CPU)")
    p.add_argument("--firmware", choices=qemu.FIRMWARES, default=None,
                   help="boot through SeaBIOS (QEMU's default) or OVMF (UEFI, Debian's ovmf "
                   "package; adds efi=debug so the kernel prints the EFI memory map); "
                   "default: the scenario's, else seabios")
    p.add_argument("--no-offline", action="store_true",
                   help="skip the offline trial (no 'tryoffline' on the command line)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--profile", metavar="NAME", help="kernel build profile (default: the one "
                   "for the booted kernel's Linux version line)")


@dataclass
class Verdict(compare.GroupVerdict):
    """Everything one verify run found."""

    name: str
    qemu_args: list[str]
    kernel_path: str
    kernel_release: str | None
    kernel_debian: str | None
    profile: str
    profile_note: str
    accel: str
    boot_seconds: float
    firmware: list[str]  # differences between the machine model and the VM's lines
    firmware_notes: list[str]
    prediction_source: str
    groups: list[compare.GroupResult]
    warnings: list[str] = field(default_factory=list)
    prediction: dict[str, Any] = field(default_factory=dict)
    has_model: bool = True  # False for a scenario: no firmware model to compare with


def profile_note(prof: KernelProfile, release: str | None, debian: str | None) -> str:
    """Which profile predicted the booted kernel, and whether it was measured on it."""
    shown = release or "unknown (no 'Linux version' line)"
    if debian:
        shown += f" (Debian {debian})"
    if (release, debian) == (prof.kernel_release, prof.debian_version):
        return f"profile {prof.name} (measured on this kernel)"
    return (f"profile {prof.name} ({prof.chosen}) was used for kernel {shown}; it was measured "
            f"on {prof.kernel_release} (Debian {prof.debian_version}): build constants "
            "(image placement, brk, structure sizes) may differ")


def _e820_text(e: Any) -> str:
    return f"[mem {e.start:#018x}-{e.end - 1:#018x}] {e.type}"


def firmware_differences(model: Machine, vm: Machine) -> list[str]:
    """Where the VM's BIOS-e820 and ACPI table lines differ from the machine model."""
    out = []
    a, b = list(model.e820), list(vm.e820)
    if a != b:
        i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                 min(len(a), len(b)))
        ma = _e820_text(a[i]) if i < len(a) else "nothing"
        vb = _e820_text(b[i]) if i < len(b) else "nothing"
        out.append(f"BIOS-e820 entry {i}: machine file {ma}, VM {vb}")
    ta = [(t.signature, t.address, t.length) for t in model.acpi_tables]
    tb = [(t.signature, t.address, t.length) for t in vm.acpi_tables]
    if ta != tb:
        i = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y),
                 min(len(ta), len(tb)))

        def show(t: list[tuple[str, int, int]]) -> str:
            return f"{t[i][0]} at {t[i][1]:#x} length {t[i][2]:#x}" if i < len(t) else "nothing"

        out.append(f"ACPI table {i}: machine file {show(ta)}, VM {show(tb)}")
    return out


def _ramdisk(r: tuple[int, int] | None) -> str:
    return f"[mem {r[0]:#010x}-{r[1] - 1:#010x}]" if r else "none"


@dataclass
class _Input:
    name: str
    spec: qemu.VmSpec
    srat: Srat | None
    model: Machine | None  # None for a scenario
    scenario: scenario.Scenario | None = None


def _load(args: argparse.Namespace) -> _Input:
    from memhp.firmware import machine_file

    offline = not args.no_offline
    if args.machine and args.scenario:
        raise InputError("command line", "MACHINE", args.machine,
                         "give a machine file or --scenario, not both")
    if args.scenario:
        sc = scenario.load_scenario(args.scenario)
        blob = encode_srat(sc.srat, args.scenario) if sc.srat else None
        spec = scenario.spec_from_scenario(sc, blob, args.cmdline, offline, args.accel,
                                           args.firmware)
        return _Input(args.scenario, spec, sc.srat, None, sc)
    if not args.machine:
        raise InputError("command line", "MACHINE", None, "give a machine file or --scenario")
    m = machine_file.load_machine(args.machine)
    blob = encode_srat(m.srat, args.machine) if m.srat else None
    spec = qemu.spec_from_machine(m, blob, args.cmdline, offline, args.accel,
                                  args.firmware or "seabios")
    return _Input(args.machine, spec, m.srat, m)


def _check_log(log: str, run: qemu.RunResult) -> None:
    if "=====END=====" in log and "=====ZONEINFO=====" in log:
        return
    panic = _PANIC.search(log)
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    last = lines[-1] if lines else "none"
    why = panic.group(0).strip() if panic else f"last console line: {last!r}"
    status = f"QEMU exit status {run.returncode}"
    err = run.stderr.strip().splitlines()
    if err:
        status += f", QEMU said: {err[-1]}"
    raise VerifyError(f"the VM stopped before the report was complete ({status}; {why})")


def _predict_runtime(sc: scenario.Scenario, machine: Machine, log: str, profile: KernelProfile,
                     source: str) -> tuple[dict[str, Any], str]:
    """The prediction of a runtime scenario: the boot with the SRAT the guest printed (QEMU
    builds its own from -numa and maxmem), then the scenario's steps."""
    from memhp import runtime
    from memhp.firmware import hotplug
    from memhp.firmware.acpi import parse_srat
    from memhp.output import runtime_text
    from memhp.platform import qemu as platform_qemu

    hexdump = compare.sections(log).get("ACPI_SRAT")
    if hexdump:
        srat = parse_srat(bytes.fromhex("".join(hexdump)), "the guest's ACPI_SRAT section")
        machine = dataclasses.replace(machine, srat=srat)
        source += "; the SRAT QEMU built, as the guest read it"
    events, notes = hotplug.parse_steps(list(sc.steps), sc.name, list(sc.qemu_args))
    mem = hotplug.parse_mem(sc.mem_option, sc.name) if sc.mem_option else None
    b = boot(machine, profile)
    session = runtime.play(b, events, platform_qemu.device_memory(machine, mem), notes)
    prediction: dict[str, Any] = json.loads(runtime_text.render_json(b, session))
    return prediction, source


def verify(args: argparse.Namespace) -> Verdict:
    """Boot the VM, predict, compare."""
    if args.timeout <= 0:
        raise InputError("command line", "--timeout", args.timeout, "must be positive")
    inp = _load(args)
    qemu.check_qemu()
    qemu.check_accel(args.accel)
    image = kernel.find_kernel(args.kernel)
    busybox = kernel.find_busybox()
    warnings = list(inp.spec.notes)
    if args.accel == "kvm":
        warnings.append("--accel kvm: '-cpu max' is then the host CPU, not the corpus' TCG "
                        "CPU (LA57, 1G pages) the profiles assume, so the kernel's page "
                        "tables and with them memblock may differ")
    try:
        initrd = initramfs.build_initramfs(busybox.read_bytes())
    except OSError as e:
        raise VerifyError(f"cannot read {busybox}: {e.strerror}") from None

    with tempfile.TemporaryDirectory(prefix="memhp-verify-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        try:
            work.mkdir(parents=True, exist_ok=True)
            for stale in ("srat.bin", "prediction.json"):  # of an earlier run in --keep DIR
                (work / stale).unlink(missing_ok=True)
            srat_path = work / "srat.bin" if inp.spec.srat is not None else None
            if srat_path is not None and inp.spec.srat is not None:
                srat_path.write_bytes(inp.spec.srat)
            (work / "initrd.gz").write_bytes(initrd)
            steps = list(inp.scenario.steps) if inp.scenario else []
            qmp_path = str(Path(tmp) / "qmp.sock") if steps else None
            argv = qemu.qemu_args(inp.spec, str(image.resolve()),
                                  str((work / "initrd.gz").resolve()),
                                  str(srat_path.resolve()) if srat_path else None, qmp_path)
            (work / "qemu-args.json").write_text(json.dumps(argv, indent=1) + "\n")
        except OSError as e:
            raise VerifyError(f"cannot write to {work}: {e.strerror}") from None
        for w in warnings:
            print(f"memhp verify: warning: {w}", file=sys.stderr)
        progress = qemu.Progress(Path(inp.name).stem or inp.name)
        player = Player(steps, qmp_path) if qmp_path else None
        run = qemu.run_vm(argv, work / "serial.log", args.timeout, progress, player=player)
        log = run.console.decode("utf-8", "replace")
        _check_log(log, run)
        if player is not None and not player.done:
            raise VerifyError(f"the VM stopped at step {player.index} of {len(steps)}")
        console, dmesg = bootlog.split_serial_log(log)
        if lost := bootlog.dmesg_lost_head(console, dmesg or ""):
            warnings.append(f"the guest's dmesg had lost its first {len(lost)} lines to the "
                            "printk ring buffer: they are read from the serial console")
        release, debian = bootlog.parse_linux_version(bootlog.dmesg_section(log))
        profile = choose_profile(args.profile, release, "the booted kernel")
        vm = bootlog.machine_from_boot_log(log, str(work / "serial.log"))
        append = parse_cmdline(inp.spec.append)
        fw_notes: list[str] = []
        if inp.model is None:
            differences: list[str] = []
            pred_machine = dataclasses.replace(vm, srat=inp.srat, cmdline=append,
                                               name=inp.name, cpus=None, notes=())
            lines = ("OVMF's e820 and EFI memory map" if inp.spec.firmware == "ovmf"
                     else "BIOS-e820")
            source = (f"the VM's firmware lines ({lines}, ACPI tables, RAMDISK) with the "
                      "scenario's SRAT: a scenario has no firmware model")
            fw_notes.append(f"initrd {_ramdisk(vm.initrd)} (memhp's initramfs, {len(initrd)} "
                            "bytes)")
        else:
            model = inp.model
            differences = firmware_differences(model, vm)
            if differences and inp.spec.firmware == "ovmf":
                pred_machine = dataclasses.replace(vm, srat=inp.srat, cmdline=append,
                                                   cpus=model.cpus, name=model.name)
                source = ("the VM's firmware lines (OVMF's e820 and EFI memory map, ACPI "
                          "tables, RAMDISK) with the machine file's SRAT and command line: a "
                          "machine file describes BIOS firmware")
            elif differences:
                pred_machine = dataclasses.replace(vm, srat=inp.srat, cmdline=append,
                                                   cpus=model.cpus, name=model.name, notes=())
                source = ("THE VM'S FIRMWARE LINES (BIOS-e820, ACPI tables, RAMDISK) with the "
                          "machine file's SRAT and command line, not the machine file: its "
                          "firmware differs from the VM's")
            else:
                pred_machine = dataclasses.replace(model, initrd=vm.initrd, cmdline=append)
                source = "the machine file, with the VM's initrd and command line"
                fw_notes.append("BIOS-e820 and ACPI tables as in the machine file")
            if model.initrd != vm.initrd:
                fw_notes.append(f"initrd: machine file {_ramdisk(model.initrd)}, VM "
                                f"{_ramdisk(vm.initrd)} (memhp's initramfs, {len(initrd)} "
                                "bytes)")
            else:
                fw_notes.append(f"initrd {_ramdisk(vm.initrd)} as in the machine file")
        if inp.scenario is not None and inp.scenario.steps:
            prediction, source = _predict_runtime(inp.scenario, pred_machine, log, profile,
                                                  source)
            groups = compare.compare(compare.real_boot(log), prediction)
            groups += compare.compare_runtime(compare.real_runtime(log),
                                              prediction.get("runtime"))
        else:
            prediction = json.loads(json.dumps(facts(boot(pred_machine, profile))))
            groups = compare.compare(compare.real_boot(log), prediction)
        if args.keep:
            (work / "prediction.json").write_text(json.dumps(prediction, indent=1) + "\n")
    return Verdict(
        name=inp.name, qemu_args=argv, kernel_path=str(image), kernel_release=release,
        kernel_debian=debian, profile=profile.name,
        profile_note=profile_note(profile, release, debian), accel=args.accel,
        boot_seconds=round(player.ready_at if player and player.ready_at else run.seconds, 1),
        firmware=differences, firmware_notes=fw_notes,
        prediction_source=source, groups=groups, warnings=warnings, prediction=prediction,
        has_model=inp.model is not None)


def _group_line(g: compare.GroupResult) -> str:
    if g.status == compare.OK:
        text = "ok" + (f" ({g.detail})" if g.detail else "")
    elif g.status == compare.NOT_COMPARED:
        text = f"not compared: {g.detail}"
    else:
        text = f"DIFFERS: {g.detail}"
    return f"{g.name:<28} {text}"


def render_text(v: Verdict) -> str:
    kernel_text = v.kernel_release or "unknown"
    if v.kernel_debian:
        kernel_text += f" (Debian {v.kernel_debian})"
    vm = " ".join(v.qemu_args[1:9])
    lines = [
        f"memhp verify {v.name}",
        f"  VM:          {vm}",
        f"  kernel:      Linux {kernel_text}, {v.kernel_path}",
        f"  model:       {v.profile_note}",
        f"  boot time:   {v.boot_seconds:.1f} s ({v.accel.upper()})",
    ]
    for w in v.warnings:
        lines.append(f"  warning:     {w}")
    for d in v.firmware:
        lines.append(f"  FIRMWARE DIFFERS: {d}")
    for n in v.firmware_notes:
        lines.append(f"  firmware:    {n}")
    lines.append(f"  prediction:  from {v.prediction_source}")
    lines.append("")
    lines.append(f"{'group':<28} result")
    lines.extend(_group_line(g) for g in v.groups)
    skipped = [g for g in v.groups if g.status == compare.NOT_COMPARED]
    lines.append("")
    tail = f"groups matched: {v.matched}/{len(v.compared)}"
    if skipped:
        tail += f" ({len(skipped)} not compared)"
    lines.append(tail)
    return "\n".join(lines) + "\n"


def render_json(v: Verdict) -> str:
    doc = {
        "input": v.name,
        "qemu_args": v.qemu_args,
        "kernel": {"release": v.kernel_release, "debian": v.kernel_debian,
                   "path": v.kernel_path},
        "profile": v.profile,
        "profile_note": v.profile_note,
        "accel": v.accel,
        "boot_seconds": v.boot_seconds,
        "firmware_matches_model": not v.firmware if v.has_model else None,
        "firmware_differences": v.firmware,
        "firmware_notes": v.firmware_notes,
        "prediction_source": v.prediction_source,
        "warnings": v.warnings,
        "groups": {g.name: {"status": g.status, "detail": g.detail, "not_compared": g.skipped}
                   for g in v.groups},
        "matched": v.matched,
        "compared": len(v.compared),
        "exit_status": v.exit_status,
    }
    return json.dumps(doc, indent=1) + "\n"


def cmd_verify(args: argparse.Namespace) -> int:
    """The ``verify`` subcommand: 0 all compared groups match, 1 some differ, 2 errors,
    3 the booted kernel panicked, 4 the VM did not finish in time (3 and 4: no ground
    truth, boot again)."""
    try:
        v = verify(args)
    except (VerifyError, InputError) as e:  # GuestPanic and BootTimeout are VerifyErrors
        print(f"memhp: error: {e}", file=sys.stderr)
        return 3 if isinstance(e, GuestPanic) else 4 if isinstance(e, BootTimeout) else 2
    sys.stdout.write(render_json(v) if args.format == "json" else render_text(v))
    return v.exit_status
