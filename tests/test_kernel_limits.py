# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's own limits, and what the model does not cover, said out loud."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from memhp.cli import main
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.machine_file import dump_machine
from memhp.firmware.types import (
    E820_USABLE,
    SRAT_MEM_ENABLED,
    SRAT_MEM_HOT_PLUGGABLE,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
    SratUnknown,
)
from memhp.kernel.memory_blocks import cedt_note, probe_memory_block_size
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import boot

PROFILE = load_profile()
G = 1 << 30


def machine(mems: list[SratMemory], cmdline: str = "nokaslr movable_node",
            e820_end: int = 8 * G, **kw: object) -> Machine:
    e820 = (E820Entry(0, 0x9FC00, E820_USABLE), E820Entry(0x100000, 0xBFFE0000, E820_USABLE),
            E820Entry(4 * G, e820_end, E820_USABLE))
    srat = Srat((SratCpu(0, 0), SratCpu(1, 1), *mems))
    return dataclasses.replace(Machine(e820, parse_cmdline(cmdline), srat=srat, cpus=2), **kw)


def low(pxm: int = 0) -> list[SratMemory]:
    return [SratMemory(pxm, 0, 0xA0000), SratMemory(pxm, 0x100000, 4 * G - 0x100000)]


def test_overlapping_nodes_make_the_kernel_drop_numa() -> None:
    b = boot(machine([*low(), SratMemory(1, 3 * G, 5 * G)]), PROFILE)
    assert any("overlaps with node" in line for line in b.log)
    assert "No NUMA configuration found" in b.log
    assert b.numa is not None and not b.numa.from_srat


def test_zero_length_and_disabled_entries_are_ignored() -> None:
    mems = [*low(), SratMemory(1, 4 * G, 0, SRAT_MEM_ENABLED | SRAT_MEM_HOT_PLUGGABLE),
            SratMemory(1, 4 * G, 4 * G, 0), SratMemory(2, 4 * G, 4 * G)]
    b = boot(machine(mems), PROFILE)
    assert b.numa is not None and b.numa.from_srat
    srat_lines = [ln for ln in b.log if ln.startswith("ACPI: SRAT: Node")]
    assert len(srat_lines) == 4  # the disabled entry prints nothing
    assert not b.hotplug


def test_proximity_domain_beyond_max_pxm_disables_the_srat() -> None:
    b = boot(machine([*low(), SratMemory(PROFILE.max_pxm_domains, 4 * G, 4 * G)]), PROFILE)
    assert "ACPI: SRAT: Too many proximity domains." in b.log
    assert "ACPI: SRAT: SRAT not used." in b.log
    assert b.numa is not None and not b.numa.from_srat


def test_more_memory_entries_than_nr_node_memblks() -> None:
    n = PROFILE.nr_node_memblks
    step = 4 * G // n
    mems = [*low(), *(SratMemory(1, 4 * G + i * step, step) for i in range(n))]
    b = boot(machine(mems), PROFILE)
    assert "too many memblk ranges" in b.log
    assert b.numa is not None and not b.numa.from_srat


def test_more_nodes_than_max_numnodes() -> None:
    prof = dataclasses.replace(PROFILE, nodes_shift=2)  # MAX_NUMNODES = 4
    mems = [*low(), *(SratMemory(p, 4 * G + p * G, G) for p in range(1, 5))]
    b = boot(machine(mems), prof)
    assert "ACPI: SRAT: Too many proximity domains." in b.log


def test_ram_above_the_physical_address_width_is_left_out() -> None:
    top = 1 << 47
    m = machine(low(), e820_end=top, la57=False)
    b = boot(m, PROFILE)
    assert b.max_pfn == (1 << 46) >> 12
    assert any("beyond what the kernel maps" in n for n in b.notes)


def test_outside_the_model_is_said() -> None:
    m = machine([*low(), SratMemory(1, 4 * G, 4 * G, SRAT_MEM_ENABLED | 4)],
                cmdline="movable_node numa=fake=4 kernelcore=mirror")
    m = dataclasses.replace(m, srat=Srat((*m.srat.entries, SratUnknown(3, bytes(18)))),
                            e820=(*m.e820, E820Entry(16 * G, 20 * G, "persistent (type 7)")))
    notes = " | ".join(boot(m, PROFILE).notes)
    for words in ("KASLR", "numa=fake", "kernelcore=mirror", "GICC", "non-volatile",
                  "persistent (type 7)"):
        assert words in notes


def _predict(m: Machine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "m.toml"
    path.write_text(dump_machine(m))
    rc = main(["predict", str(path), "--format", "json"])
    return rc, capsys.readouterr().err


def test_no_ram_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = Machine((E820Entry(0x100000, 0x200000, "reserved"),), parse_cmdline("nokaslr"))
    rc, err = _predict(m, tmp_path, capsys)
    assert rc == 2 and err.count("\n") == 1 and "without RAM" in err


@pytest.mark.parametrize("la57, bits", [(True, 52), (False, 46)])
def test_ram_up_to_the_physical_address_limit_is_modelled(
        la57: bool, bits: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # RAM up to 2^64: the kernel keeps what 4- or 5-level paging maps (64 TiB or 4 PiB) and
    # leaves the rest unused; so does the model, saying so, at the cost of a small machine
    m = Machine((E820Entry(0, 0xFFFFFFFFFFFFF000, E820_USABLE),), parse_cmdline("nokaslr"),
                la57=la57)
    path = tmp_path / "m.toml"
    path.write_text(dump_machine(m))
    assert main(["predict", str(path), "--format", "json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert any(f"{bits}-bit physical addresses" in n for n in facts["notes"])
    assert facts["block_size_bytes"] == 2 << 30  # bare metal above 64G: the largest size
    runs = facts["memory_block_runs"]
    assert sum(r["count"] for r in runs) == (1 << bits) // (2 << 30)
    # 2M blocks are too many to list one by one in JSON: runs only
    assert (facts["memory_blocks"] is None) == (bits == 52)


# Direct-map steps over a hole (memory_map_bottom_up/top_down, arch/x86/mm/init.c): a step
# grows only once as much RAM is mapped, so a hole met while steps are small is walked in
# small steps that map nothing (a hole of 77 TiB: 40 million of them, a minute of model time;
# found by bench/fuzz.py).  The model passes them in one go; its outcome must be the walk's.
#   bottom-up (movable_node):  [kernel_end 0x4420000 .. 72 MiB RAM] hole [16 GiB .. 20 GiB RAM]
#     2M steps map 3.9 MiB, then 512M steps cross the hole: 31 map nothing
#   top-down:                  [1 MiB .. 2 GiB RAM] hole [64 GiB .. 64 GiB + 4 MiB RAM]
#     2M, then 512M steps down from the top: 123 map nothing
@pytest.mark.parametrize("cmdline, e820", [
    ("nokaslr movable_node", ((0x100000, 0x4800000), (16 * G, 20 * G))),
    ("nokaslr", ((0x100000, 2 * G), (64 * G, 64 * G + (4 << 20)))),
])
def test_direct_map_passes_a_hole_as_walking_it_would(
        cmdline: str, e820: tuple[tuple[int, int], ...], monkeypatch: pytest.MonkeyPatch) -> None:
    from memhp.kernel import x86_mm_init
    from memhp.kernel.memblock import snapshot

    m = Machine((E820Entry(0, 0x9FC00, E820_USABLE),
                 *(E820Entry(s, e, E820_USABLE) for s, e in e820)), parse_cmdline(cmdline), cpus=2)
    steps: list[int] = []
    real_steps = x86_mm_init.init_range_memory_mapping

    def counted(*args: object) -> int:
        steps.append(1)
        return real_steps(*args)  # type: ignore[arg-type]

    def outcome() -> tuple[object, ...]:
        steps.clear()
        b = boot(m, PROFILE)
        return (b.log, b.memblock.events, snapshot(b.memblock.reserved), b.memblock.current_limit,
                len(steps))

    monkeypatch.setattr(x86_mm_init, "init_range_memory_mapping", counted)
    *passed, fewer = outcome()
    monkeypatch.setattr(x86_mm_init, "_skip_up", lambda mb, start, *rest: start)
    monkeypatch.setattr(x86_mm_init, "_skip_down", lambda mb, last_start, *rest: last_start)
    *walked, every = outcome()
    assert passed == walked
    assert every - fewer == (31 if "movable_node" in cmdline else 123)


def test_overlapping_e820_entries_are_sanitized_like_the_kernel() -> None:
    m = machine(low())
    m = dataclasses.replace(m, e820=(*m.e820, E820Entry(0x9F000, 0x200000, "reserved")))
    b = boot(m, PROFILE)
    assert not any(r.base < 0x200000 < r.end for r in b.memblock.memory.regions)


def test_too_many_e820_entries_are_cut_like_the_kernel() -> None:
    m = machine(low())
    extra = tuple(E820Entry(9 * G + i * 0x2000, 9 * G + i * 0x2000 + 0x1000, "reserved")
                  for i in range(4000))
    b = boot(dataclasses.replace(m, e820=(*m.e820, *extra)), PROFILE)
    assert any(line.startswith("e820: too many entries; ignoring") for line in b.log)


def test_cpus_are_capped_at_nr_cpus() -> None:
    b = boot(dataclasses.replace(machine(low()), cpus=100000), PROFILE)
    assert len(b.cpu_node) == 8192
    assert any("NR_CPUS" in n for n in b.notes)


def test_zero_cpus_still_has_the_boot_cpu() -> None:
    b = boot(dataclasses.replace(machine(low()), cpus=0), PROFILE)
    assert b.cpu_node == [0]


def test_srat_range_wrapping_past_2_64_is_an_invalid_memblk() -> None:
    b = boot(machine([*low(), SratMemory(1, 0xFFFFFFFFFFFFF000, G)]), PROFILE)
    assert any(ln.startswith("Warning: invalid memblk node 1") for ln in b.log)


def test_boot_log_that_never_ends_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--boot-log", "/dev/zero"]) == 2
    assert "longer than 64 MiB" in capsys.readouterr().err


@pytest.mark.parametrize("tib, hypervisor, end_gib, size", [
    (0.0625, False, 1, 128 << 20),  # below 64G of boot memory: 128M
    (0.0625, False, 0, 2 << 30),  # from 64G on, bare metal: the largest size, 2G
    (1, False, 0.5, 2 << 30),  # bare metal: 2G, however the end is aligned
    (1, True, 0, 2 << 30),  # a hypervisor: the largest size the end is aligned to
    (1, True, 1, 1 << 30),  # ... 1G when the end is 1G- but not 2G-aligned
    (1, True, 0.5, 512 << 20),
    (4096, False, 0, 2 << 30),  # 4 PiB (5-level paging): still 2G
])
def test_memory_block_size_for_large_machines(tib: float, hypervisor: bool, end_gib: float,
                                              size: int) -> None:
    """probe_memory_block_size() of 6.1 and 6.12 on RAM ending at TIB TiB (minus END_GIB)."""
    end = int(tib * (1 << 40) - end_gib * (1 << 30))
    for name in ("debian-6.1-amd64", "debian-6.12-amd64"):
        prof = load_profile(name)
        assert probe_memory_block_size(end >> prof.page_shift, hypervisor, prof) == size


def test_a_cedt_on_a_later_kernel_is_a_note() -> None:
    assert cedt_note(["APIC", "CEDT"], load_profile("debian-6.12-amd64")) is None
    assert "CEDT" in (cedt_note(["APIC", "CEDT"], load_profile("debian-7.2-amd64")) or "")
    assert cedt_note(["APIC"], load_profile("debian-7.2-amd64")) is None
