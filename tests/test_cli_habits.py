# SPDX-License-Identifier: GPL-2.0-or-later
"""A new user's habits: ``-`` for standard input, ``--version``, examples in ``--help``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from memhp import __version__
from memhp.cli import build_parser, main

HERE = Path(__file__).parent
P01 = HERE / "fixtures" / "corpus" / "p01_movable_node_hotplug_node1"
EXAMPLE = HERE.parent / "examples" / "p01_movable_node_hotplug_node1.toml"


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"memhp {__version__}\n"


def test_every_command_has_examples() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    choices = getattr(sub, "choices", {})
    assert set(choices) >= {"predict", "explain", "compare", "advise", "replay", "map",
                            "verify", "import-log"}
    for name, p in choices.items():
        text = p.format_help()
        assert "examples:\n  memhp " + name in text, name
        assert "'-' for standard input" in text, name


@pytest.mark.parametrize("argv,data", [
    # the boot log from a pipe (dmesg | memhp predict --boot-log -)
    (["predict", "--boot-log", "-", "--srat", str(P01 / "srat.bin")], "serial.log"),
    # the SRAT from a pipe
    (["predict", "--boot-log", str(P01 / "serial.log"), "--srat", "-"], "srat.bin"),
])
def test_stdin_gives_the_same_prediction(argv: list[str], data: str,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc, want, _ = run(["predict", "--boot-log", str(P01 / "serial.log"), "--srat",
                       str(P01 / "srat.bin"), "--format", "json"], capsys)
    assert rc == 0
    stdin(monkeypatch, (P01 / data).read_bytes())
    rc, got, _ = run([*argv, "--format", "json"], capsys)
    assert rc == 0 and json.loads(got) == json.loads(want)


def test_machine_file_replay_and_import_from_stdin(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    stdin(monkeypatch, EXAMPLE.read_bytes())
    rc, out, _ = run(["predict", "-"], capsys)
    assert rc == 0 and out.startswith("memhp prediction for p01_movable_node_hotplug_node1")
    stdin(monkeypatch, (P01 / "serial.log").read_bytes())
    rc, out, _ = run(["replay", "-", "--srat", str(P01 / "srat.bin")], capsys)
    assert rc == 0 and out.splitlines()[-1] == "allocations matched: 82/82"
    stdin(monkeypatch, (P01 / "serial.log").read_bytes())
    rc, out, _ = run(["import-log", "-"], capsys)
    assert rc == 0 and out.startswith("# memhp machine file")


def test_stdin_errors_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    stdin(monkeypatch, b"")
    rc, _, err = run(["predict", "--boot-log", "-"], capsys)
    assert (rc, err) == (2, "memhp: error: <stdin>: BIOS-e820=None: no 'BIOS-e820:' lines in "
                            "the log\n")
    rc, _, err = run(["predict", "--boot-log", "-", "--srat", "-"], capsys)
    assert (rc, err) == (2, "memhp: error: command line: --srat='-': standard input is "
                            "already read by --boot-log\n")
    rc, _, err = run(["predict", "--boot-log", "/no/such/log"], capsys)
    assert (rc, err) == (2, "memhp: error: /no/such/log: file='/no/such/log': cannot read: "
                            "No such file or directory\n")


def test_map_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["map", str(EXAMPLE), "-o", "-"], capsys)
    assert rc == 0 and out.startswith("<svg ")
    rc, out, _ = run(["map", str(EXAMPLE), "-o", "-", "--format", "html"], capsys)
    assert rc == 0 and out.lstrip().lower().startswith("<!doctype html")
