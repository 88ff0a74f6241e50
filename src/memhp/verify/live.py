# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp check``: the prediction for the machine memhp runs on, diffed against its running
kernel.

The running kernel's state is read below a root directory, as the firmware input is
(:mod:`memhp.firmware.live`): /proc/zoneinfo, /sys/devices/system/memory (``block_size_bytes``,
``auto_online_blocks``, each block's ``state``, ``valid_zones`` and ``nodeN`` links, which
are the /sys/devices/system/node memory links seen from the block) and the kernel log.
The groups are those of :mod:`compare`; a group needs its source (the boot lines of the
kernel log, ``memblock=debug``), and the offline trial is never made on a live machine.

Memory that came after boot is runtime state, not a boot-model mismatch: memory blocks
outside the boot firmware map's RAM (hot-added DIMMs, virtio-mem, dax/kmem, ``probe``), the
zones they were onlined into, and boot blocks that are gone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from memhp.firmware.live import LiveMachine, read_live_machine
from memhp.firmware.types import E820_USABLE
from memhp.kernel.profile import KernelProfile, parse_version
from memhp.units import id_ranges
from memhp.verify import compare

__all__ = ["LiveCheck", "LiveState", "add_subcommand", "check", "cmd_check", "read_live_state"]

_MEMORY = "sys/devices/system/memory"
# facts the prediction may leave unknown (kernel/efi.py) -> the groups they decide
_UNKNOWN_GROUPS = {"memblock_dumps": "memblock", "node_data": "dmesg:node_data",
                   "managed": "zoneinfo:managed"}


@dataclass
class LiveState:
    """What the running kernel shows, as :class:`compare.RealBoot` plus what only a live
    system has."""

    real: compare.RealBoot
    block_size: int | None = None
    auto_online: str | None = None
    firmware_nodes: set[int] = field(default_factory=set)  # blocks of ACPI memory devices
    missing: dict[str, str] = field(default_factory=dict)  # group prefix -> why not compared


def _read(root: str, rel: str) -> tuple[str | None, str]:
    """A file's text (at most 16 MiB), or None and why it could not be read."""
    path = os.path.join(root, rel)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(1 << 24), ""
    except OSError as e:
        return None, f"{path}: {e.strerror or e}"


def _text(root: str, rel: str) -> str | None:
    return _read(root, rel)[0]


def read_live_state(root: str, kernel_log: str) -> LiveState:
    """The running kernel's comparable state below ``root``; ``kernel_log`` is its log with
    the boot lines ("" when it could not be read)."""
    real = compare.RealBoot(complete=True)
    st = LiveState(real)
    if kernel_log:
        real.dmesg = compare.dmesg_lines(kernel_log.splitlines())
        real.memblock_dumps = compare.memblock_dumps(real.dmesg)
        if not real.memblock_dumps:
            st.missing["memblock"] = "this boot had no memblock=debug (no memblock dumps)"
    else:
        st.missing["dmesg"] = "the kernel log with the boot lines was not readable"
        st.missing["memblock"] = "the kernel log with the boot lines was not readable"
    st.missing["offline_trial"] = ("never tried on a live machine: it would take memory "
                                   "away from the running system")
    zoneinfo, why = _read(root, "proc/zoneinfo")
    if zoneinfo is None:
        st.missing["zoneinfo"] = why
    else:
        real.zoneinfo = compare.parse_zoneinfo(zoneinfo.splitlines())
    size, why = _read(root, f"{_MEMORY}/block_size_bytes")
    if size is None or not re.fullmatch(r"\s*[0-9a-fA-F]+\s*", size):
        why = why or ("empty" if not (size or "").strip() else f"not a hex number: {size!r}")
        st.missing["memory_blocks"] = f"no memory blocks ({why}; a kernel without hotplug?)"
    else:
        st.block_size = int(size, 16)
        real.memory_blocks = _memory_blocks(root, st)
    auto = _text(root, f"{_MEMORY}/auto_online_blocks")
    st.auto_online = auto.strip() if auto else None
    return st


def _memory_blocks(root: str, st: LiveState) -> dict[str, dict[str, Any]]:
    base = os.path.join(root, _MEMORY)
    blocks: dict[int, dict[str, Any]] = {}
    for name in os.listdir(base):
        m = re.fullmatch(r"memory(\d+)", name)
        if not m:
            continue
        d = os.path.join(base, name)
        state = _text(d, "state")
        zones = _text(d, "valid_zones")
        try:
            entries = os.listdir(d)
        except OSError:
            entries = []
        nodes = [e for e in entries if re.fullmatch(r"node\d+", e)]
        if "firmware_node" in entries:
            st.firmware_nodes.add(int(m.group(1)))
        blocks[int(m.group(1))] = compare.block_fact((state or "?").strip(),
                                                     (zones or "").strip(), nodes)
    return {str(k): v for k, v in sorted(blocks.items())}


@dataclass
class LiveCheck(compare.GroupVerdict):
    """The verdict of ``memhp check``."""

    name: str
    kernel_release: str | None
    profile: str
    profile_note: str
    groups: list[compare.GroupResult]
    runtime: list[str]  # memory that came or went after boot, one line each
    reasons: list[str]  # the likely reasons of the differences
    notes: list[str]  # what the prediction's input lacked
    auto_online: str | None


def _ram(live: LiveMachine) -> list[tuple[int, int]]:
    return [(e.start, e.end) for e in live.machine.e820 if e.type == E820_USABLE]


def _runtime_blocks(st: LiveState, pred: dict[str, Any], ram: list[tuple[int, int]]
                    ) -> tuple[list[int], list[int]]:
    """Blocks added after boot (outside the boot map's RAM, not predicted) and boot blocks
    that are gone."""
    size = st.block_size or 0
    predicted = set(pred.get("memory_blocks") or {})
    added = [int(b) for b in st.real.memory_blocks if b not in predicted
             and not any(s < (int(b) + 1) * size and int(b) * size < e for s, e in ram)]
    gone = [int(b) for b in predicted if b not in st.real.memory_blocks]
    return sorted(added), sorted(gone)


def _added_origin(root: str, st: LiveState, blocks: list[int]) -> str:
    """How memory came after boot, as far as sysfs shows it."""
    how = []
    if any(b in st.firmware_nodes for b in blocks):
        how.append("ACPI memory devices (hot-added DIMMs)")
    for drv, what in (("bus/virtio/drivers/virtio_mem", "virtio-mem"),
                      ("bus/dax/drivers/kmem", "dax/kmem")):
        try:
            if any(e not in ("bind", "unbind", "uevent", "module", "new_id", "remove_id")
                   for e in os.listdir(os.path.join(root, "sys", drv))):
                how.append(what)
        except OSError:
            pass
    return " or ".join(how) or "hot-add, virtio-mem, dax/kmem or the probe interface"


def check(live: LiveMachine, pred: dict[str, Any], prof: KernelProfile,
          cmdline_override: str | None = None) -> LiveCheck:
    """Diff the prediction ``pred`` (JSON facts) for ``live`` against its running kernel."""
    st = read_live_state(live.root, live.kernel_log)
    real = st.real
    added, gone = _runtime_blocks(st, pred, _ram(live))
    runtime: list[str] = []
    skip_zones: set[tuple[str, str]] = set()
    if added:
        by_state: dict[tuple[str, str, str], list[int]] = {}
        for b in added:
            fact = real.memory_blocks.pop(str(b))
            online = fact["state"] == "online" and fact["valid_zones"]
            zone = fact["valid_zones"][0] if online else ""
            nodes = ",".join(map(str, fact["nodes"])) or "?"
            by_state.setdefault((fact["state"], zone, nodes), []).append(b)
            if zone:
                skip_zones.update((str(n), zone) for n in fact["nodes"])
        origin = _added_origin(live.root, st, added)
        runtime.append(f"memory blocks {id_ranges(added)} are not in the boot firmware map's "
                       f"RAM: added by a driver during or after boot ({origin})")
        for (state, zone, nodes), ids in sorted(by_state.items()):
            where = f" in zone {zone}" if zone else ""
            runtime.append(f"  memory{id_ranges(ids)}: {state}{where}, node {nodes}")
        if st.auto_online is not None:
            runtime.append(f"  auto_online_blocks: {st.auto_online} (the state the kernel "
                           "gives memory it adds)")
    pz = {str(n): dict(zs) for n, zs in (pred.get("zoneinfo") or {}).items()}
    if skip_zones:
        for n, z in sorted(skip_zones):
            real.zoneinfo.get(n, {}).pop(z, None)
            pz.get(n, {}).pop(z, None)
        runtime.append("  not compared, as memory onlined after boot changed them: zone "
                       + ", ".join(f"{z} of node {n}" for n, z in sorted(skip_zones)))
    pred = {**pred, "zoneinfo": pz}
    missing = dict(st.missing)
    for u in pred.get("unknown") or []:  # what the input cannot decide (the EFI map)
        for fact in u.get("affects", []):
            group = _UNKNOWN_GROUPS.get(fact)
            if group and group not in missing:
                missing[group] = f"memhp: unknown ({u.get('input')}: {u.get('why')})"
    groups = [_not_compared(g, missing) for g in compare.compare(real, pred)]
    reasons = _reasons(live, st, pred, prof, groups, gone, cmdline_override)
    return LiveCheck(live.machine.name, live.kernel_release, prof.name,
                     prof.chosen_note or f"{prof.name} ({prof.chosen})", groups, runtime,
                     reasons, list(live.machine.notes), st.auto_online)


def _not_compared(g: compare.GroupResult, missing: dict[str, str]) -> compare.GroupResult:
    why = next((w for prefix, w in missing.items() if g.name.startswith(prefix)), None)
    return g if why is None else compare.GroupResult(g.name, compare.NOT_COMPARED, why)


def _reasons(live: LiveMachine, st: LiveState, pred: dict[str, Any], prof: KernelProfile,
             groups: list[compare.GroupResult], gone: list[int],
             cmdline_override: str | None) -> list[str]:
    """The likely reasons of the differences, from what was read (none when all match)."""
    differ = {g.name for g in groups if g.status == compare.DIFFERS}
    if not differ:
        return []
    out = []
    want = parse_version(live.kernel_release) if live.kernel_release else None
    if want is None or want != prof.version or live.kernel_release != prof.kernel_release:
        out.append(f"another kernel build than the profile: this machine runs "
                   f"{live.kernel_release or 'an unknown kernel'}, profile {prof.name} was "
                   f"measured on {prof.kernel_release}: build constants and behaviour may "
                   "differ")
    booted = live.machine.cmdline.raw
    if cmdline_override is not None and cmdline_override.strip() != booted:
        out.append(f"the command line differs from the one this kernel booted with ({booted!r})")
    pblocks = pred.get("memory_blocks") or {}
    flipped = [int(b) for b, f in st.real.memory_blocks.items()
               if b in pblocks and f["state"] != pblocks[b].get("state")]
    if flipped:
        out.append(f"memory onlined or offlined by hand after boot: memory{id_ranges(flipped)} "
                   "(a write to memoryN/state, or a tool such as chmem or udev rules)")
    if gone:
        out.append(f"memory{id_ranges(gone)} predicted at boot but not there now: removed "
                   "after boot (hot-remove), or the model is wrong")
    if st.block_size and pred.get("block_size_bytes") not in (None, st.block_size):
        out.append(f"memory block size: the kernel uses {st.block_size:#x}, the prediction "
                   f"{pred['block_size_bytes']:#x}")
    if differ == {"zoneinfo:managed"}:
        out.append("only managed pages differ: they change after boot (balloon drivers, "
                   "free page reporting, memory failure, hugetlb or CMA set-up)")
    out += [f"the input was incomplete: {n}" for n in live.lacking]
    return out


def render_text(c: LiveCheck) -> str:
    from memhp.verify.cli import _group_line

    lines = [f"memhp check: {c.name}, running Linux {c.kernel_release or 'unknown'}",
             f"  model:  {c.profile_note}"]
    lines += [f"  note:   {n}" for n in c.notes]
    lines += ["", f"{'group':<28} result"]
    lines += [_group_line(g) for g in c.groups]
    if c.runtime:
        lines += ["", "runtime state (not part of the boot model):"]
        lines += [f"  {r}" for r in c.runtime]
    lines.append("")
    skipped = len(c.groups) - len(c.compared)
    lines.append(f"groups matched: {c.matched}/{len(c.compared)}"
                 + (f" ({skipped} not compared)" if skipped else ""))
    if c.exit_status == 0:
        lines.append("result: the running kernel matches the prediction")
    else:
        lines.append("result: the running kernel differs from the prediction; likely reasons:")
        lines += [f"  - {r}" for r in c.reasons] or ["  - none found in what was read"]
    return "\n".join(lines) + "\n"


def render_json(c: LiveCheck) -> str:
    doc = {
        "machine": c.name, "kernel_release": c.kernel_release, "profile": c.profile,
        "profile_note": c.profile_note, "notes": c.notes,
        "groups": {g.name: {"status": g.status, "detail": g.detail} for g in c.groups},
        "runtime": c.runtime, "auto_online_blocks": c.auto_online,
        "matched": c.matched, "compared": len(c.compared),
        "matches": c.exit_status == 0, "reasons": c.reasons, "exit_status": c.exit_status,
    }
    return json.dumps(doc, indent=1) + "\n"


def add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``memhp check``."""
    from memhp.cli import add_command, profile_arg

    p = add_command(
        sub, "check", "diff the prediction for this machine against its running kernel",
        "  memhp check\n  sudo memhp check          (root reads the SRAT and the kernel log)\n"
        "  journalctl -k -b | memhp check --boot-log -\n"
        "  memhp check --format json\n  memhp check --root /tmp/copy-of-another-machine",
        description="Predict this machine from what firmware and boot loader gave its "
        "kernel (as predict --live), then compare the prediction with the running kernel "
        "(/proc/zoneinfo, /sys/devices/system/memory, the kernel log) group by group. "
        "Memory that came after boot is shown as runtime state. Exit status: 0 it matches, "
        "1 it differs (with the likely reasons), 2 error.")
    p.add_argument("--root", metavar="DIR", help="read /sys, /proc and /dev/kmsg below DIR "
                   "instead of /")
    p.add_argument("--srat", help="the SRAT, where /sys/firmware/acpi/tables/SRAT is not "
                   "readable (a copy made as root)")
    p.add_argument("--boot-log", metavar="LOG", help="the kernel log instead of /dev/kmsg "
                   "(journalctl -k -b, where the ring buffer no longer holds the boot)")
    p.add_argument("--cmdline", help="predict with this command line instead of the booted one")
    profile_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """``memhp check``: exit 0 when the running kernel matches, 1 when it differs."""
    from memhp.cli import input_profile, live_log
    from memhp.firmware import acpi
    from memhp.firmware.cmdline import parse_cmdline
    from memhp.kernel.setup import boot
    from memhp.output.json_facts import facts

    live = read_live_machine(args.root or "/", live_log(args))
    machine = live.machine
    if args.srat:
        machine = dataclasses.replace(machine, srat=acpi.load_srat(args.srat))
    if args.cmdline is not None:
        machine = dataclasses.replace(machine, cmdline=parse_cmdline(args.cmdline))
    args.live, args.boot_log = True, None
    prof = input_profile(args, machine)
    pred = json.loads(json.dumps(facts(boot(machine, prof))))
    result = check(live, pred, prof, args.cmdline)
    print(render_json(result) if args.format == "json" else render_text(result), end="")
    return result.exit_status
