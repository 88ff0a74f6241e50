# SPDX-License-Identifier: GPL-2.0-or-later
"""Real boot logs from public sources (tests/fixtures/reallogs, see SOURCES.md there).

Per log, memhp predicts from the log's own firmware lines (no SRAT file: the SRAT comes
from the kernel's SRAT lines) and the lines the kernel printed that do not depend on how it
was built are compared with the prediction: ``Zone ranges``, ``Movable zone start for each
node``, ``Early memory node ranges``, ``Initmem setup node`` and the home node of each
``NODE_DATA``.  The groups are compared as values (zone, node, addresses), not as text, so
the kernel's older print formats compare too.  A log memhp refuses must be refused with a
one-line reason; where memhp does not match, the gap is listed below with its reason.

``python tests/test_reallogs.py`` prints the table: groups matched per log.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from memhp.errors import InputError
from memhp.firmware.bootlog import machine_from_boot_log
from memhp.firmware.logline import kernel_messages
from memhp.kernel.profile import choose_profile
from memhp.kernel.setup import boot

REALLOGS = Path(__file__).parent / "fixtures" / "reallogs"
LOGS = sorted(REALLOGS.glob("*.log"))

# log name -> the start of the one-line reason memhp gives when it refuses the log
REFUSED: dict[str, str] = {
    # a mail client wrapped the long lines: the e820 table's types went to the next lines
    "asus-zenbook-pro-17-7.0-wrapped-mail": "it stops before the entry's type and the next line",
}

_DMA32_3X = ("3.x kernels print ZONE_DMA32 up to 4 GiB whatever the RAM (the zone end was "
             "clamped to max_low_pfn later, before 4.14); memhp models the newer rule")
_INITMEM_3X = ("3.x printed the node span it set up from numa_meminfo (from address 0) in "
               "setup_node_data(); later kernels print the node's first RAM page")
_CPU_ORDER = ("before 5.18 init_cpu_to_node() set up each node with CPUs and no memory in CPU "
              "(MADT) order, which the log does not print; memhp takes the SRAT's order")
# log name -> {group: why memhp does not match}
KNOWN_GAPS: dict[str, dict[str, str]] = {
    "dell-r7425-2s-epyc-8nodes-5.2": {"initmem": _CPU_ORDER},
    "aws-xen-hvm-3.10": {"zone_ranges": _DMA32_3X},
    "aws-xen-hvm-3.10-messages": {"zone_ranges": _DMA32_3X},
    "kvm-bochs-3.13": {"zone_ranges": _DMA32_3X, "initmem": _INITMEM_3X},
    "kvm-bochs-3.13-kernlog": {"zone_ranges": _DMA32_3X, "initmem": _INITMEM_3X},
}

_ADDR = r"0x([0-9a-f]+)"
# syslog daemons eat one of the two leading blanks: any indentation counts
_ZONE = re.compile(r"^\s+(DMA|DMA32|Normal|Movable|Device)\s+(?:\[mem " + _ADDR + "-" + _ADDR
                   + r"\]|empty)$")
_MOVABLE = re.compile(r"^\s+Node (\d+): " + _ADDR + "$")
_EARLY = re.compile(r"^\s+node\s+(\d+): \[mem " + _ADDR + "-" + _ADDR + r"\]$")
_INITMEM = re.compile(r"^Initmem setup node (\d+) (?:\[mem " + _ADDR + "-" + _ADDR
                      + r"\]|as memoryless)$")
_NODE_DATA = re.compile(r"^NODE_DATA\((\d+)\) allocated")
_NODE_DATA_3X = re.compile(r"^\s+NODE_DATA \[mem ")  # 3.x setup_node_data()
_NODE_DATA_ON = re.compile(r"^\s+NODE_DATA\((\d+)\) on node (\d+)$")

Group = list[tuple[object, ...]]


def _hex(m: re.Match[str], *groups: int) -> tuple[int | None, ...]:
    return tuple(int(m.group(g), 16) if m.group(g) else None for g in groups)


def _section(lines: list[str], head: str, rx: re.Pattern[str],
             value: Callable[[re.Match[str]], tuple[object, ...]]) -> Group | None:
    """The lines under the first ``head`` line that match ``rx``, as values; None when the
    log has no such section."""
    if head not in lines:
        return None
    out: Group = []
    for line in lines[lines.index(head) + 1:]:
        match = rx.match(line)
        if not match:
            break
        out.append(value(match))
    return out


def groups(text: str) -> dict[str, Group | None]:
    """The build-independent groups of one kernel log (real or predicted), as values."""
    lines = [ln.rstrip() for ln in kernel_messages(text).text.splitlines()]
    zones = _section(lines, "Zone ranges:", _ZONE, lambda m: (m.group(1), *_hex(m, 2, 3)))
    if zones is not None:
        # ZONE_DEVICE is printed only by kernels built with it: not the layout
        zones = [z for z in zones if z[0] != "Device"]
    home: dict[int, int] = {}
    last_initmem = None
    for line in lines:
        if (m := _NODE_DATA.match(line)):
            home[int(m.group(1))] = int(m.group(1))
        elif (m := _NODE_DATA_ON.match(line)):
            home[int(m.group(1))] = int(m.group(2))
        elif (m := _INITMEM.match(line)):
            last_initmem = int(m.group(1))
        elif _NODE_DATA_3X.match(line) and last_initmem is not None:
            home.setdefault(last_initmem, last_initmem)  # 3.x: under its Initmem line
    initmem = [(int(m.group(1)), *_hex(m, 2, 3)) for ln in lines if (m := _INITMEM.match(ln))]
    return {
        "zone_ranges": zones,
        "movable_zone_start": _section(lines, "Movable zone start for each node", _MOVABLE,
                                       lambda m: (int(m.group(1)), *_hex(m, 2))),
        "early_node_ranges": _section(lines, "Early memory node ranges", _EARLY,
                                      lambda m: (int(m.group(1)), *_hex(m, 2, 3))),
        "initmem": initmem or None,
        "node_data": sorted(home.items()) or None,
    }


def predict(text: str, name: str) -> str:
    """memhp's kernel lines for a log, from its firmware lines alone."""
    machine = machine_from_boot_log(text, name)
    result = boot(machine, choose_profile(None, machine.kernel, "the log's Linux version"))
    return "\n".join(result.log) + "\n"


def compare(path: Path) -> tuple[dict[str, str], str | None]:
    """Per group: "ok", "MISMATCH ..." or "not in log"; and the refusal, if any."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        predicted = groups(predict(text, path.name))
    except InputError as err:
        return {}, str(err)
    real = groups(text)
    out = {}
    for group, want in real.items():
        got = predicted[group]
        if want is None:
            out[group] = "not in log"
        elif got == want:
            out[group] = "ok"
        else:
            out[group] = f"MISMATCH real {want} != memhp {got}"
    return out, None


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.stem)
def test_real_log(path: Path) -> None:
    result, refusal = compare(path)
    name = path.stem
    if name in REFUSED:
        assert refusal is not None and REFUSED[name] in refusal
        assert "\n" not in refusal  # one line a user can act on
        return
    assert refusal is None, refusal
    gaps = KNOWN_GAPS.get(name, {})
    for group, verdict in result.items():
        if group in gaps:
            assert verdict.startswith("MISMATCH"), f"{group} matches now: drop the known gap"
        else:
            assert not verdict.startswith("MISMATCH"), f"{group}: {verdict}"


def test_memmap_user_map() -> None:
    """memmap=8G!8G on a real server: memhp's user-defined map is the kernel's, line for
    line."""
    text = (REALLOGS / "supermicro-x8sie-4.4.log").read_text()
    real = [ln.split("] ", 1)[1] for ln in text.splitlines() if "] user: [mem" in ln]
    ours = [ln for ln in predict(text, "x8sie").splitlines() if ln.startswith("user: [mem")]
    assert len(real) == 15 and ours == real


@pytest.mark.parametrize("name", [
    "intel-brickland-4s-bdx-ex-6.2-uefi",  # Intel BRICKLAND, Xeon E7-8890 v4, 512 GiB, 6.2
    "dell-r930-4s-5.9-uefi",  # Dell PowerEdge R930, Xeon E7-8870 v4, 512 GiB, 5.9
])
def test_four_socket_server(name: str) -> None:
    """4-socket servers (4 nodes, UEFI): every build-independent group is in the log and
    memhp matches each."""
    path = REALLOGS / f"{name}.log"
    result, refusal = compare(path)
    assert refusal is None and result == dict.fromkeys(result, "ok") and len(result) == 5
    initmem = groups(path.read_text())["initmem"]
    assert initmem is not None and [node[0] for node in initmem] == [0, 1, 2, 3]


def test_set_is_large_and_sourced() -> None:
    assert len(LOGS) >= 30
    sources = (REALLOGS / "SOURCES.md").read_text()
    assert all(p.name in sources for p in LOGS)
    assert set(REFUSED) | set(KNOWN_GAPS) <= {p.stem for p in LOGS}


def main() -> None:
    print(f"{'log':44} {'matched':>8}  mismatched / refused")
    for path in LOGS:
        result, refusal = compare(path)
        if refusal is not None:
            print(f"{path.stem:44} {'refused':>8}  {refusal}")
            continue
        compared = [g for g, v in result.items() if v != "not in log"]
        ok = [g for g in compared if result[g] == "ok"]
        bad = [g for g in compared if result[g] != "ok"]
        print(f"{path.stem:44} {len(ok):>4}/{len(compared):<3}  {', '.join(bad)}")
        if "-v" in sys.argv:
            for g in bad:
                print(f"    {g}: {result[g][:300]}")


if __name__ == "__main__":
    main()
