# SPDX-License-Identifier: GPL-2.0-or-later
"""Many inputs in one call: ``memhp predict|explain|advise IN1 IN2 ...`` on all cores.

Every input becomes one JSON object on one line (JSON Lines), in input order, and one row
of a summary table (nodes, ZONE_MOVABLE, removable nodes and blocks, notes).  An input
that fails gets its one-line error in its own record; the others go on.  A progress bar
is drawn on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from memhp.errors import InputError
from memhp.units import id_ranges

__all__ = ["Job", "Progress", "Record", "SUMMARY_HEADER", "jobs_from_args", "run_all", "run_batch",
           "run_job", "sibling_srat"]


@dataclass(frozen=True)
class Job:
    """One input of a batch and what to do with it."""

    command: str  # "predict", "explain" or "advise"
    path: str
    is_log: bool
    srat: str | None
    cmdline: str | None
    profile: str | None  # --profile; None: the one for the input's kernel
    removable: tuple[int, ...] = ()
    node: int | None = None


@dataclass(frozen=True)
class Record:
    """What one input gave: its JSON line and summary row, or its error."""

    path: str
    line: str
    row: tuple[str, ...]
    error: str | None = None
    status: int = 0  # the exit status the single-input command would have had


SUMMARY_HEADER = ["input", "nodes", "movable", "removable nodes", "removable blocks", "notes"]


def sibling_srat(log: str) -> str | None:
    """The SRAT that belongs to a log in a batch: ``srat.bin`` or ``SRAT`` beside it (the
    layout of the corpus and of ``examples/server-64node-32t/``)."""
    folder = os.path.dirname(log) or "."
    for name in ("srat.bin", "SRAT"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def jobs_from_args(args: argparse.Namespace) -> list[Job]:
    """The batch's inputs: a positional input ending in ``.toml`` is a machine file, any
    other (and every ``--boot-log``) a boot log; ``--srat`` applies to all of them, else a
    log takes the SRAT beside it."""
    inputs = [(p, not p.endswith(".toml")) for p in args.machine or ()]
    inputs += [(p, True) for p in args.boot_log or ()]
    removable = tuple(getattr(args, "want", ()) or ())
    return [Job(args.command, path, is_log, args.srat or (sibling_srat(path) if is_log else None),
                getattr(args, "cmdline", None), args.profile, removable,
                getattr(args, "node", None))
            for path, is_log in inputs]


def _plain_json(obj: object) -> Any:
    from memhp.output.report import plain

    return plain(obj)


def run_job(job: Job) -> Record:
    """One input, start to end; any failure becomes the record's one-line error."""
    try:
        return _run(job)
    except InputError as e:
        return _failed(job, str(e))
    except RecursionError:
        return _failed(job, f"{job.path}: internal error: recursion too deep")
    except Exception as e:  # noqa: BLE001 - one bad input must never stop the others
        text = " ".join(str(e).split())[:300]
        return _failed(job, f"{job.path}: internal error: {type(e).__name__}: {text}")


def _failed(job: Job, error: str) -> Record:
    line = json.dumps({"input": job.path, "command": job.command, "ok": False, "error": error})
    return Record(job.path, line, (job.path, "-", "-", "-", "-", "error: " + error), error, 2)


def _run(job: Job) -> Record:
    from memhp import analysis
    from memhp.cli import input_profile, load_input
    from memhp.kernel.setup import boot
    from memhp.output import json_facts

    ns = argparse.Namespace(machine=None if job.is_log else job.path,
                            boot_log=job.path if job.is_log else None, srat=job.srat,
                            cmdline=job.cmdline, profile=job.profile)
    machine = load_input(ns)
    prof = input_profile(ns, machine)
    b = boot(machine, prof)
    verdicts = analysis.node_verdicts(b)
    removable_nodes = [v.nid for v in verdicts if v.removable]
    movable = sum(v.movable for v in verdicts)
    summary = {
        "nodes": len(verdicts),
        "movable_bytes": movable,
        "removable_nodes": removable_nodes,
        "blocks": len(b.blocks),
        "removable_blocks": sum(v.removable_blocks for v in verdicts),
        "notes": len(b.notes),
    }
    rec: dict[str, Any] = {"input": job.path, "command": job.command, "ok": True,
                           "summary": summary}
    status = 0
    if job.command == "predict":
        rec["facts"] = json_facts.facts(b)
    elif job.command == "explain":
        shown = [v for v in verdicts if job.node is None or v.nid == job.node]
        if not shown:
            raise InputError("--node", "NODE", job.node, "no such node after boot")
        rec["nodes"] = _plain_json(shown)
        rec["notes"] = list(b.notes)
    else:
        advice = analysis.advise(machine, list(job.removable), prof)
        rec["advice"] = _plain_json(advice)
        status = 0 if any(o.works for o in advice.options) else 1
    row = (job.path, str(len(verdicts)), f"{movable / (1 << 30):.1f} GiB",
           id_ranges(removable_nodes) or "none",
           f"{summary['removable_blocks']}/{summary['blocks']}",
           _notes_cell(b.notes))
    return Record(job.path, json.dumps(rec), row, None, status)


def _notes_cell(notes: list[str]) -> str:
    """The first note, cut short, and how many more there are (the record has them all)."""
    if not notes:
        return ""
    first = notes[0] if len(notes[0]) <= 60 else notes[0][:57] + "..."
    return first + (f" (+{len(notes) - 1} more)" if len(notes) > 1 else "")


def run_all(jobs: Sequence[Job], workers: int) -> Iterator[Record]:
    """The records in input order, computed on ``workers`` processes."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(run_job, jobs)
        return
    chunk = max(1, min(16, len(jobs) // (workers * 8)))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(run_job, jobs, chunk)


class Progress:
    """A one-line progress bar on a terminal; nothing elsewhere."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.on = stream.isatty()
        self.t0 = self.last = time.monotonic()

    def update(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if not self.on or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        width = 30
        fill = width * done // max(self.total, 1)
        rate = done / max(now - self.t0, 1e-9)
        self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} "
                          f"{rate:.1f}/s" + (f", {failed} failed" if failed else ""))
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run_batch(args: argparse.Namespace, jsonl: bool) -> int:
    """Run every input; JSON Lines (``jsonl``) or nothing on stdout, then the summary table
    (on stdout, or on stderr after JSON Lines).  Exit status: 2 if an input failed, else the
    worst of the single-input statuses."""
    from memhp.output.terminal import style_for, table

    jobs = jobs_from_args(args)
    workers = args.jobs or os.cpu_count() or 1
    progress = Progress(len(jobs), sys.stderr)
    rows: list[list[str]] = []
    failed, status = 0, 0
    t0 = time.monotonic()
    for i, rec in enumerate(run_all(jobs, min(workers, len(jobs))), 1):
        if jsonl:
            sys.stdout.write(rec.line + "\n")
        failed += rec.error is not None
        status = max(status, rec.status)
        rows.append(list(rec.row))
        progress.update(i, failed)
    progress.close()
    elapsed = max(time.monotonic() - t0, 1e-9)
    out = sys.stderr if jsonl else sys.stdout
    style = style_for(args.no_color) if not jsonl else style_for(True)
    out.write(table(SUMMARY_HEADER, rows, style))
    out.write(f"{len(jobs)} inputs, {failed} failed, {len(jobs) / elapsed:.1f} per second "
              f"on {min(workers, len(jobs))} processes\n")
    out.flush()
    return status
