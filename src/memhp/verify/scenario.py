# SPDX-License-Identifier: GPL-2.0-or-later
"""Corpus scenarios (``scenario.json``): a QEMU machine described by what QEMU is told,
not by what firmware says.

    {"machine": "pc", "mem": "6G", "smp": 2,
     "srat": {"cpus": [[pxm, apic_id], ...], "mems": [[pxm, base, length, flags], ...]},
     "cmdline": "movable_node"}

Sizes and addresses are integers, hex strings (``"0xA0000"``) or numbers with a K/M/G/T
suffix (``"1M"``, ``"4G"``); ``srat`` may be null (QEMU then has no SRAT at all); ``smp``
defaults to the number of SRAT processor entries, else 2 (what the corpus booted).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from memhp.errors import InputError
from memhp.firmware import hotplug
from memhp.firmware.types import Srat, SratCpu, SratEntry, SratMemory
from memhp.inputfile import json_object, read_text, stdin_name
from memhp.verify.qemu import FIRMWARES, MiB, VmSpec, efi_params, make_append, own_params

__all__ = ["DEFAULT_SMP", "MACHINE_TYPES", "Scenario", "load_scenario", "parse_scenario",
           "parse_size", "spec_from_scenario"]

MACHINE_TYPES = ("pc", "q35")
DEFAULT_SMP = 2
# The header IDs of the corpus generator's SRATs, so that a corpus scenario gives its
# srat.bin byte for byte.
SRAT_OEM_ID, SRAT_OEM_TABLE_ID, SRAT_CREATOR_ID = "ORACLE", "HOTPLUG ", "ORCL"
_SIZE = re.compile(r"(0x[0-9a-f]+|[0-9]+)([kmgt]?)", re.IGNORECASE)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
_KEYS = {"machine", "mem", "smp", "srat", "cmdline", "firmware", "qemu_args", "steps"}


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario.json."""

    machine_type: str
    mem: int  # bytes
    smp: int
    srat: Srat | None
    cmdline: str
    name: str = ""
    firmware: str = "seabios"
    mem_option: str | None = None  # the whole -m value when it has slots=/maxmem=
    qemu_args: tuple[str, ...] = ()  # a runtime scenario's -numa/-object/-device options
    steps: tuple[dict[str, object], ...] = ()  # its QMP and guest steps (runtime boots)


def parse_size(value: object, source: str, field: str) -> int:
    """An integer, hex string or number with a K/M/G/T suffix, as a non-negative int."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InputError(source, field, value, "must not be negative")
        return value
    if isinstance(value, str):
        m = _SIZE.fullmatch(value.strip())
        if m:
            number, suffix = m.groups()
            base = 16 if number.lower().startswith("0x") else 10
            return int(number, base) << _SHIFT[suffix.lower()]
    raise InputError(source, field, value,
                     "want an integer, a hex string like \"0xA0000\" or a size like \"4G\"")


def _list(value: object, source: str, field: str, length: int | None = None) -> list[object]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        want = f"a list of {length}" if length is not None else "a list"
        raise InputError(source, field, value, f"must be {want}")
    return value


def _srat(value: object, source: str) -> Srat | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(source, "srat", value, "must be an object {cpus, mems} or null")
    unknown = set(value) - {"cpus", "mems"}
    if unknown:
        key = sorted(unknown)[0]
        raise InputError(source, f"srat.{key}", value[key], "unknown field")
    entries: list[SratEntry] = []
    for i, item in enumerate(_list(value.get("cpus", []), source, "srat.cpus")):
        f = f"srat.cpus[{i}]"
        pxm, apic = _list(item, source, f, 2)
        entries.append(SratCpu(parse_size(pxm, source, f"{f}[0]"),
                               parse_size(apic, source, f"{f}[1]")))
    for i, item in enumerate(_list(value.get("mems", []), source, "srat.mems")):
        f = f"srat.mems[{i}]"
        fields = _list(item, source, f, 4)
        pxm, base, length, flags = (parse_size(v, source, f"{f}[{j}]")
                                    for j, v in enumerate(fields))
        entries.append(SratMemory(pxm, base, length, flags))
    return Srat(tuple(entries), oem_id=SRAT_OEM_ID, oem_table_id=SRAT_OEM_TABLE_ID,
                creator_id=SRAT_CREATOR_ID)


def parse_scenario(text: str, source: str) -> Scenario:
    """A scenario from the text of a scenario.json (InputError naming the field)."""
    doc = json_object(text, source)
    unknown = set(doc) - _KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise InputError(source, key, doc[key], f"unknown field; have {sorted(_KEYS)}")
    machine = doc.get("machine", "pc")
    if machine not in MACHINE_TYPES:
        raise InputError(source, "machine", machine, f"must be one of {list(MACHINE_TYPES)}")
    if "mem" not in doc:
        raise InputError(source, "mem", None, "missing (the RAM size, like \"6G\")")
    mem_option = doc["mem"] if isinstance(doc["mem"], str) and "," in doc["mem"] else None
    mem = parse_size(doc["mem"].split(",")[0] if mem_option else doc["mem"], source, "mem")
    if mem == 0 or mem % MiB:
        raise InputError(source, "mem", doc["mem"], "must be a non-zero whole number of MiB")
    srat = _srat(doc.get("srat"), source)
    cpus = len(srat.cpus) if srat else 0
    smp = parse_size(doc["smp"], source, "smp") if "smp" in doc else (cpus or DEFAULT_SMP)
    if smp < 1:
        raise InputError(source, "smp", doc.get("smp"), "must be at least 1")
    cmdline = doc.get("cmdline") or ""
    if not isinstance(cmdline, str):
        raise InputError(source, "cmdline", cmdline, "must be a string")
    firmware = doc.get("firmware", "seabios")
    if firmware not in FIRMWARES:
        raise InputError(source, "firmware", firmware, f"must be one of {list(FIRMWARES)}")
    qemu_args = doc.get("qemu_args") or []
    if not isinstance(qemu_args, list) or not all(isinstance(a, str) for a in qemu_args):
        raise InputError(source, "qemu_args", qemu_args, "must be a list of strings")
    steps = doc.get("steps") or []
    hotplug.parse_steps(steps, source, qemu_args)  # checks every step
    return Scenario(machine, mem, smp, srat, cmdline, "", firmware, mem_option,
                    tuple(qemu_args), tuple(steps))


def load_scenario(path: str) -> Scenario:
    sc = parse_scenario(read_text(path), stdin_name(path))
    return dataclasses.replace(sc, name=path)


def spec_from_scenario(sc: Scenario, srat: bytes | None, cmdline: str | None = None,
                       offline: bool = True, accel: str = "tcg",
                       firmware: str | None = None) -> VmSpec:
    """The VM of a scenario; ``cmdline`` replaces its own parameters, ``firmware`` its
    firmware."""
    fw = firmware or sc.firmware
    own = efi_params(own_params(sc.cmdline if cmdline is None else cmdline), fw)
    return VmSpec(sc.machine_type, sc.mem // MiB, sc.smp, srat,
                  make_append(own, offline, runtime=bool(sc.steps)), accel, firmware=fw,
                  mem=sc.mem_option, extra_args=sc.qemu_args)
