# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``memhp`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from memhp.analysis import BlockVerdict
from memhp.errors import InputError
from memhp.firmware.types import Machine
from memhp.inputfile import read_text, stdin_name
from memhp.kernel.profile import KernelProfile, choose_profile, profile_for_kernel
from memhp.kernel.setup import Boot, boot
from memhp.output import dmesg, json_facts, text
from memhp.output.terminal import style_for
from memhp.runtime import Session
from memhp.units import id_ranges

__all__ = ["EXAMPLES", "FILE_ARGS", "FILE_NOTE", "MAP_FORMATS", "add_command", "add_map_subcommand",
           "batch_or_single", "build_parser", "check_stdin", "cmd_advise", "cmd_compare",
           "cmd_explain", "cmd_import_log", "cmd_map", "cmd_predict", "cmd_profiles", "cmd_replay",
           "input_profile", "is_live", "live_args", "live_log", "load_input", "main", "profile_arg",
           "write_output"]


def load_input(args: argparse.Namespace) -> Machine:
    """A Machine from a machine file, or from a boot log plus an optional SRAT file."""
    from memhp.firmware import acpi, bootlog, cmdline, machine_file

    if is_live(args):
        from memhp.firmware.live import read_live_machine

        if args.machine:
            raise InputError("command line", "--live", args.machine,
                             "--live reads this machine; give no machine file")
        m = read_live_machine(args.root or "/", live_log(args)).machine
        if args.srat:
            m = dataclasses.replace(m, srat=acpi.load_srat(args.srat))
        if getattr(args, "cmdline", None) is not None:
            m = dataclasses.replace(m, cmdline=cmdline.parse_cmdline(args.cmdline))
        return m
    if args.machine and args.boot_log:
        raise InputError("command line", "MACHINE", args.machine,
                         "give a machine file or --boot-log, not both")
    if args.boot_log:
        return bootlog.machine_from_boot_log(read_text(args.boot_log),
                                             stdin_name(args.boot_log), args.cmdline,
                                             acpi.load_srat(args.srat) if args.srat else None)
    if not args.machine:
        raise InputError("command line", "MACHINE", None, "give a machine file or --boot-log FILE")
    m = machine_file.load_machine(args.machine)
    if args.srat:
        m = dataclasses.replace(m, srat=acpi.load_srat(args.srat))
    if args.cmdline is not None:
        m = dataclasses.replace(m, cmdline=cmdline.parse_cmdline(args.cmdline))
    return m


def is_live(args: argparse.Namespace) -> bool:
    """Whether the input is the machine memhp runs on (``--live``, or ``--root DIR``)."""
    return bool(getattr(args, "live", False) or getattr(args, "root", None))


def live_log(args: argparse.Namespace) -> tuple[str, str] | None:
    """With --live, --boot-log FILE is the kernel log instead of /dev/kmsg (the boot lines
    of a long-running machine are in ``journalctl -k -b``): its text and name."""
    log = args.boot_log[0] if isinstance(args.boot_log, list) else args.boot_log
    return (read_text(log), stdin_name(log)) if log else None


def live_args(p: argparse.ArgumentParser) -> None:
    """``--live`` and ``--root``: the machine memhp runs on as the input."""
    p.add_argument("--live", action="store_true",
                   help="this machine: read what firmware and boot loader gave the running "
                   "kernel from /sys, /proc and the kernel log (more as root); --boot-log "
                   "then gives the kernel log instead of /dev/kmsg")
    p.add_argument("--root", metavar="DIR",
                   help="read /sys, /proc and /dev/kmsg below DIR instead of / (implies --live)")


def batch_or_single(args: argparse.Namespace) -> bool:
    """True when the command got several inputs (a batch); else make the arguments those
    of one input."""
    inputs = len(args.machine or ()) + len(args.boot_log or ())
    if inputs > 1:
        return True
    args.machine = args.machine[0] if args.machine else None
    args.boot_log = args.boot_log[0] if args.boot_log else None
    return False


def input_profile(args: argparse.Namespace, machine: Machine) -> KernelProfile:
    """``--profile``, else the profile for the input's kernel (see ``choose_profile``)."""
    where = ("the log's Linux version" if args.boot_log else
             "the running kernel (/proc/version)" if is_live(args) else
             "the machine file's kernel =")
    return choose_profile(args.profile, machine.kernel, where)


def cmd_predict(args: argparse.Namespace) -> int:
    if batch_or_single(args):
        from memhp import batch

        if args.steps or args.add or args.remove or any(
                getattr(args, n) for n in ("online", "online_movable", "online_kernel",
                                           "offline")):
            raise InputError("command line", "--steps", args.steps,
                             "hotplug events need a single input, not a batch")
        if args.explain is not None or args.format == "dmesg":
            raise InputError("command line", "--explain" if args.explain is not None
                             else "--format", args.explain if args.explain is not None
                             else "dmesg", "needs a single input, not a batch")
        return batch.run_batch(args, args.format == "json")
    machine = load_input(args)
    result = boot(machine, input_profile(args, machine))
    session = _session(args, machine, result)
    if session is not None:
        from memhp.output import runtime_text

        if args.explain is not None:
            raise InputError("command line", "--explain", args.explain,
                             "not with hotplug events")
        if args.format == "json":
            sys.stdout.write(runtime_text.render_json(result, session) + "\n")
        elif args.format == "text":
            style = style_for(args.no_color, args.hex)
            sys.stdout.write(text.render(result, style))
            sys.stdout.write(runtime_text.render(session, style))
        else:
            raise InputError("command line", "--format", args.format,
                             "hotplug events need --format text or json")
        return 0
    if args.explain is not None:
        if args.format != "text":
            raise InputError("command line", "--explain", args.explain, "needs --format text")
        from memhp.output import report

        v = _block_verdict(result, args.explain, "--explain")
        sys.stdout.write(report.block_text(v, style_for(args.no_color, args.hex)))
        return 0
    if args.format == "text":
        sys.stdout.write(text.render(result, style_for(args.no_color, args.hex)))
    else:
        render = {"dmesg": dmesg.render, "json": json_facts.render}[args.format]
        sys.stdout.write(render(result))
    if args.format == "json":
        sys.stdout.write("\n")
    return 0


def _session(args: argparse.Namespace, machine: Machine, result: Boot) -> Session | None:
    """The hotplug events of --steps, the machine file and the event options, played on
    the boot (None when there are none)."""
    from memhp import runtime
    from memhp.firmware import hotplug
    from memhp.platform import qemu

    events: list[hotplug.Event] = list(machine.hotplug)
    notes: list[str] = []
    mem: hotplug.MemSpec | None = machine.qemu_mem
    if args.steps:
        events_, notes, mem_ = hotplug.load_steps(args.steps)
        events += events_
        mem = mem_ or mem
    for i, text_ in enumerate(args.add or []):
        events.append(hotplug.parse_add(text_, "--add", "SIZE@NODE", i + 1))
    for name in hotplug.STATES:
        for rng in getattr(args, name) or []:
            first, last = hotplug.block_range(rng, f"--{name.replace('_', '-')}", "BLOCKS")
            events.append(hotplug.SetState(name, first, last))
    for dimm in args.remove or []:
        events.append(hotplug.DimmRemove(dimm))
    if not events:
        return None
    if not args.steps and not isinstance(events[-1], hotplug.Dump):
        events.append(hotplug.Dump("END"))
    return runtime.play(result, events, qemu.device_memory(machine, mem), notes)


def cmd_replay(args: argparse.Namespace) -> int:
    from memhp import replay

    res = replay.replay_log(read_text(args.log), stdin_name(args.log), args.srat,
                            args.profile)
    if args.format == "json":
        from memhp.output.report import to_json

        sys.stdout.write(to_json(res))
    else:
        sys.stdout.write(replay.render(res))
    return 0 if res.matched == res.total and res.dumps_matched == res.dumps_total else 1


def cmd_import_log(args: argparse.Namespace) -> int:
    from memhp.firmware import acpi, bootlog, machine_file

    m = bootlog.machine_from_boot_log(read_text(args.log), stdin_name(args.log), None,
                                      acpi.load_srat(args.srat) if args.srat else None)
    out = machine_file.dump_machine(m)
    write_output(args.output or "-", out)
    return 0


def write_output(path: str, text: str) -> None:
    """Write an output file (``-o``, ``-``: standard output); failing to is an input
    error, not a traceback."""
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InputError(path, "-o", path, e.strerror or "cannot write") from None


def _input_args(p: argparse.ArgumentParser, cmdline: bool = True, many: bool = False) -> None:
    """The machine input every model command takes (``many``: several, as a batch)."""
    if many:
        p.add_argument("machine", nargs="*",
                       help="machine file (TOML); several make a batch, where an input not "
                       "ending in .toml is a boot log")
        p.add_argument("--boot-log", action="append",
                       help="a dmesg or serial log: its firmware lines are the input (repeat "
                       "for a batch)")
        p.add_argument("-j", "--jobs", type=int, default=0,
                       help="processes for a batch (default: all cores)")
    else:
        p.add_argument("machine", nargs="?", help="machine file (TOML)")
        p.add_argument("--boot-log",
                       help="a dmesg or serial log: its firmware lines are the input")
    p.add_argument("--srat", help="SRAT: raw table, acpidump text or iasl -d text")
    live_args(p)
    if cmdline:
        p.add_argument("--cmdline", help="kernel command line (replaces the input's)")
    profile_arg(p)


def profile_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", metavar="NAME", help="kernel build profile (default: the one "
                   "for the input's kernel, else the oldest; see 'memhp profiles')")


def _style_args(p: argparse.ArgumentParser, formats: tuple[str, ...] = ("text", "json")) -> None:
    p.add_argument("--format", choices=formats, default="text")
    p.add_argument("--no-color", action="store_true", help="no colour even on a terminal")
    p.add_argument("--hex", action="store_true", help="sizes as exact hex instead of KiB/MiB/GiB")


def _block_verdict(b: Boot, block_id: int, flag: str) -> BlockVerdict:
    """The verdict on one memory block; a block that does not exist is an input error."""
    from memhp import analysis

    v = analysis.block_verdict(b, block_id)
    if v is None:
        raise InputError(flag, "BLOCK", block_id,
                         f"no such memory block (have {id_ranges(x.id for x in b.blocks)})")
    return v


def cmd_explain(args: argparse.Namespace) -> int:
    from memhp import analysis
    from memhp.output import report

    if batch_or_single(args):
        from memhp import batch

        if args.block is not None or args.addr is not None:
            raise InputError("command line", "--block" if args.block is not None else "--addr",
                             args.block if args.block is not None else args.addr,
                             "needs a single input, not a batch")
        return batch.run_batch(args, args.format == "json")
    machine = load_input(args)
    b = boot(machine, input_profile(args, machine))
    style = style_for(args.no_color, args.hex)
    if args.block is not None:
        v = _block_verdict(b, args.block, "--block")
        out = report.to_json(v) if args.format == "json" else report.block_text(v, style)
        sys.stdout.write(out)
        return 0
    if args.addr is not None:
        info = analysis.where_is(b, args.addr)
        sys.stdout.write(report.to_json(info) if args.format == "json" else report.addr_text(info))
        return 0
    verdicts = analysis.node_verdicts(b)
    if args.node is not None:
        verdicts = [v for v in verdicts if v.nid == args.node]
        if not verdicts:
            absent = analysis.absent_node(b, args.node)
            if absent is None:
                raise InputError("--node", "NODE", args.node,
                                 "no such node after boot, and the SRAT names none")
            sys.stdout.write(report.to_json({"absent": absent, "notes": b.notes})
                             if args.format == "json" else report.absent_text(absent))
            return 0
    if args.format == "json":
        sys.stdout.write(report.to_json({"nodes": verdicts, "notes": b.notes}))
    else:
        sys.stdout.write("".join(report.node_text(v, style) for v in verdicts))
        sys.stdout.writelines(f"note: {n}\n" for n in b.notes)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from memhp import analysis
    from memhp.output import report

    machine = load_input(args)
    cmdlines = args.cmdlines or [None]
    if args.kernels:  # what a kernel upgrade changes: one outcome per kernel generation
        if len(cmdlines) > 1 or args.profile:
            raise InputError("command line", "--kernel", args.kernels[0],
                             "compare kernels with at most one --cmdline and no --profile")
        outcomes = [analysis.outcome(machine, cmdlines[0], profile_for_kernel(k, "--kernel"))
                    for k in args.kernels]
    else:
        prof = input_profile(args, machine)
        outcomes = [analysis.outcome(machine, c, prof) for c in cmdlines]
    if args.format == "json":
        diffs = [analysis.differences(outcomes[0], o) for o in outcomes[1:]]
        sys.stdout.write(report.to_json({"outcomes": outcomes, "changes": diffs}))
    else:
        sys.stdout.write(report.compare_text(outcomes, style_for(args.no_color, args.hex),
                                             bool(args.kernels)))
    return 0


def cmd_advise(args: argparse.Namespace) -> int:
    from memhp import analysis
    from memhp.output import report

    if args.hot_add:
        return _advise_hotplug(args)
    if args.removable is None:
        raise InputError("command line", "--removable", None,
                         "give --removable NODES or --hot-add SIZE@NODE")
    try:
        want = [int(n) for n in args.removable.split(",") if n.strip()]
    except ValueError:
        raise InputError("--removable", "NODE", args.removable,
                         "want node numbers like 4,5") from None
    if not want:
        raise InputError("--removable", "NODE", args.removable, "no node given")
    if batch_or_single(args):
        from memhp import batch

        args.want = want
        return batch.run_batch(args, args.format == "json")
    machine = load_input(args)
    advice = analysis.advise(machine, want, input_profile(args, machine))
    if args.format == "json":
        sys.stdout.write(report.to_json(advice))
    else:
        sys.stdout.write(report.advice_text(advice, style_for(args.no_color, args.hex)))
    return 0 if any(o.works for o in advice.options) else 1


def cmd_profiles(args: argparse.Namespace) -> int:
    """``memhp profiles``: every bundled profile, where it was measured, and the behaviour
    changes chosen by version."""
    from memhp.kernel.profile import CHANGES, DEFAULT_PROFILE, all_profiles

    profiles = all_profiles()
    if args.format == "json":
        from memhp.output.report import to_json

        sys.stdout.write(to_json({
            "default": DEFAULT_PROFILE,
            "profiles": [{"name": p.name, "kernel_version": p.kernel_version,
                          "measured": p.measured, "measured_uefi": p.measured_uefi,
                          "kernel_release": p.kernel_release,
                          "debian_version": p.debian_version,
                          "debian_package": p.debian_package, "debian_suite": p.debian_suite,
                          "changes": p.changes()} for p in profiles],
            "changes": CHANGES}))
        return 0
    out = []
    for p in profiles:
        default = " (default)" if p.name == DEFAULT_PROFILE else ""
        out += [f"{p.name}{default}: Linux {p.kernel_version}",
                f"  kernel:   {p.kernel_release}, {p.debian_package} {p.debian_version} "
                f"(Debian {p.debian_suite})",
                f"  measured: {p.measured}",
                f"  UEFI:     {p.measured_uefi or 'not checked against a UEFI boot'}",
                f"  behaviour: {', '.join(p.changes()) or 'the oldest; no changes'}"]
    if CHANGES:
        out += ["", "behaviour chosen by version (code, src/memhp/kernel/profile.py CHANGES):"]
        out += [f"  {n}: since {c.since[0]}.{c.since[1]}, {c.commit}: {c.what}"
                for n, c in CHANGES.items()]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _advise_hotplug(args: argparse.Namespace) -> int:
    """advise --hot-add: the command lines that keep later hot-added memory removable."""
    from memhp import runtime
    from memhp.firmware import hotplug
    from memhp.output import runtime_text

    if args.removable is not None:
        raise InputError("command line", "--removable", args.removable,
                         "not with --hot-add (one question at a time)")
    if batch_or_single(args):
        raise InputError("command line", "--hot-add", args.hot_add, "needs a single input")
    machine = load_input(args)
    adds = [hotplug.parse_add(t, "--hot-add", "SIZE@NODE", i + 1)
            for i, t in enumerate(args.hot_add)]
    options = runtime.advise_hotplug(machine, adds, input_profile(args, machine),
                                     machine.qemu_mem)
    if args.format == "json":
        sys.stdout.write(runtime_text.advice_json(adds, options) + "\n")
    else:
        sys.stdout.write(runtime_text.advice_text(adds, options,
                                                  style_for(args.no_color, args.hex)))
    return 0 if any(o.works for o in options) else 1


MAP_FORMATS = {".svg": "svg", ".html": "html", ".htm": "html"}


def cmd_map(args: argparse.Namespace) -> int:
    """``memhp map``: boot the machine in the model and write its map."""
    from pathlib import Path

    from memhp.output import memmap_html, memmap_svg

    kind = args.format or ("svg" if args.output == "-" else
                           MAP_FORMATS.get(Path(args.output).suffix.lower()))
    if kind is None:
        raise InputError("command line", "-o", args.output,
                         "the map is written as .svg or .html; name the file so")
    machine = load_input(args)
    if not machine.name:
        source = args.machine or args.boot_log
        source = "" if source == "-" else source
        machine = dataclasses.replace(machine, name=Path(source).stem if source else "")
    render = memmap_svg.render_svg if kind == "svg" else memmap_html.render_html
    write_output(args.output, render(boot(machine, input_profile(args, machine))))
    return 0


def add_map_subcommand(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``memhp map MACHINE -o map.svg|map.html``."""
    mp = add_command(
        subparsers, "map", "draw physical memory: zones, hotplug ranges, boot memory, memory "
        "blocks", "  memhp map machine.toml -o map.svg\n"
        "  memhp map --boot-log dmesg.txt --srat srat.bin -o map.html\n"
        "  memhp map machine.toml -o - --format svg > map.svg\n"
        "  memhp map --live -o this-machine.html",
        description="Draw a map of physical memory, one lane per NUMA node, as SVG or as an "
        "HTML page that shows details on hover (chosen by the suffix of -o, or --format).")
    _input_args(mp)
    mp.add_argument("-o", "--output", required=True, help="map.svg or map.html ('-': stdout)")
    mp.add_argument("--format", choices=("svg", "html"),
                    help="the picture's format (default: from the suffix of -o)")
    mp.set_defaults(func=cmd_map)


def _addr(text: str) -> int:
    return int(text, 0)


EXAMPLES = {
    "predict": """\
  memhp predict machine.toml
  memhp predict --boot-log dmesg.txt --srat /sys/firmware/acpi/tables/SRAT
  dmesg | memhp predict --boot-log - --format json
  memhp predict machine.toml --cmdline "movable_node" --explain 40
  sudo memhp predict --live                        (this machine)
  journalctl -k -b | memhp predict --live --boot-log -""",
    "explain": """\
  memhp explain machine.toml --node 1
  memhp explain --boot-log dmesg.txt --srat srat.bin --block 33
  memhp explain machine.toml --addr 0x140000000
  memhp explain --live --node 1""",
    "compare": """\
  memhp compare machine.toml --cmdline "" --cmdline movable_node --cmdline kernelcore=2G
  memhp compare machine.toml --kernel 6.1 --kernel 6.12
  memhp compare --live --cmdline movablecore=50%""",
    "advise": """\
  memhp advise machine.toml --removable 2,3
  memhp advise --boot-log dmesg.txt --srat srat.bin --removable 1 --format json
  sudo memhp advise --live --removable 1
  memhp advise examples/hotplug-auto-movable.toml --hot-add 8G@1""",
    "replay": """\
  memhp replay serial.log --srat srat.bin
  dmesg | memhp replay -""",
    "import-log": """\
  memhp import-log dmesg.txt --srat srat.bin -o machine.toml
  dmesg | memhp import-log - > machine.toml""",
}
FILE_NOTE = "Every file argument may be '-' for standard input."


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str,
                examples: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with examples."""
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:],
                          epilog=f"examples:\n{examples}\n\n{FILE_NOTE}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    from memhp import __version__

    p = argparse.ArgumentParser(
        prog="memhp",
        description="Predict where Linux x86_64 puts boot memory, which memory ends up in "
        "ZONE_MOVABLE and which memory blocks can be hot-removed.",
        epilog="examples:\n  memhp predict machine.toml\n  dmesg | memhp predict --boot-log -\n"
        "  memhp COMMAND --help    (examples for each command)\n\n" + FILE_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"memhp {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    pr = add_command(sub, "predict", "predict the boot-time memory layout of a machine",
                     EXAMPLES["predict"])
    _input_args(pr, many=True)
    _style_args(pr, ("text", "dmesg", "json"))
    pr.add_argument("--explain", type=int, metavar="BLOCK",
                    help="what lives in memory block BLOCK and whether it can go offline")
    hp = pr.add_argument_group("after boot (memory hotplug events, played in this order: "
                               "--steps, the machine file's [[hotplug]], --add, state writes, "
                               "--remove)")
    hp.add_argument("--steps", metavar="JSON",
                    help="a corpus-style scenario.json: its steps (QMP and guest commands) and "
                    "the DIMMs its qemu_args plug at boot")
    hp.add_argument("--add", action="append", metavar="SIZE@NODE[:ADDR]",
                    help="hot-add a DIMM (without ADDR placed as QEMU 7.2 places pc-dimm); "
                    "the DIMMs are named d1, d2, ...")
    for name in ("online", "online_movable", "online_kernel", "offline"):
        hp.add_argument(f"--{name.replace('_', '-')}", dest=name, action="append",
                        metavar="FIRST[-LAST]", help=f"write {name} to these memory blocks")
    hp.add_argument("--remove", action="append", metavar="DIMM",
                    help="eject a DIMM (ACPI eject: offline all its blocks, then remove)")
    pr.set_defaults(func=cmd_predict)
    ex = add_command(sub, "explain", "why a node is (not) hot-removable, why a block is pinned",
                     EXAMPLES["explain"])
    _input_args(ex, many=True)
    _style_args(ex)
    what = ex.add_mutually_exclusive_group()
    what.add_argument("--node", type=int, help="one node")
    what.add_argument("--block", type=int, help="one memory block")
    what.add_argument("--addr", type=_addr, help="one physical address (0x...)")
    ex.set_defaults(func=cmd_explain)
    co = add_command(sub, "compare", "compare command lines (or kernels) side by side, per node",
                     EXAMPLES["compare"])
    _input_args(co, cmdline=False)
    _style_args(co)
    co.add_argument("--cmdline", dest="cmdlines", action="append", metavar="STR",
                    help="a command line to compare (repeat)")
    co.add_argument("--kernel", dest="kernels", action="append", metavar="VERSION",
                    help="a kernel to compare (repeat): 6.1, 6.12, a release or a Debian "
                    "package version; shows what an upgrade changes")
    co.set_defaults(func=cmd_compare, cmdline=None)
    ad = add_command(sub, "advise", "command lines that make nodes hot-removable, and costs",
                     EXAMPLES["advise"])
    _input_args(ad, cmdline=False, many=True)
    _style_args(ad)
    ad.add_argument("--removable", metavar="NODE[,NODE...]",
                    help="the nodes to make hot-removable")
    ad.add_argument("--hot-add", action="append", metavar="SIZE@NODE[:ADDR]",
                    help="memory to hot-add later (repeat for more DIMMs): which boot command "
                    "line and online policy keep it removable, and what that costs")
    ad.set_defaults(func=cmd_advise, cmdline=None)
    rp = add_command(sub, "replay", "check every memblock allocation of a memblock=debug log",
                     EXAMPLES["replay"])
    rp.add_argument("log", help="a boot log with memblock=debug")
    rp.add_argument("--srat", help="the SRAT the machine had")
    profile_arg(rp)
    rp.add_argument("--format", choices=("text", "json"), default="text")
    rp.set_defaults(func=cmd_replay)
    from memhp import verify
    from memhp.verify import live

    add_map_subcommand(sub)
    verify.add_subcommand(sub)
    live.add_subcommand(sub)
    pf = add_command(sub, "profiles", "the kernel profiles and where each was measured",
                     "  memhp profiles\n  memhp profiles --format json")
    pf.add_argument("--format", choices=("text", "json"), default="text")
    pf.set_defaults(func=cmd_profiles)
    im = add_command(sub, "import-log", "write a machine file from a real boot log",
                     EXAMPLES["import-log"])
    im.add_argument("log", help="dmesg or serial log")
    im.add_argument("--srat", help="SRAT file to include")
    im.add_argument("-o", "--output", help="machine file to write (default: stdout)")
    im.set_defaults(func=cmd_import_log)
    return p


FILE_ARGS = ("machine", "boot_log", "srat", "log", "scenario")


def check_stdin(args: argparse.Namespace) -> None:
    """Standard input can be read once: at most one file argument may be ``-``."""
    given = []
    for a in FILE_ARGS:
        value = getattr(args, a, None)
        for v in value if isinstance(value, list) else [value]:
            if v == "-":
                given.append(a.upper() if a in ("machine", "log") else f"--{a.replace('_', '-')}")
    if len(given) > 1:
        raise InputError("command line", given[1], "-",
                         f"standard input is already read by {given[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_stdin(args)
        rc: int = args.func(args)
        return rc
    except InputError as e:
        print(f"memhp: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
