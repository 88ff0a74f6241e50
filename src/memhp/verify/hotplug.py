# SPDX-License-Identifier: GPL-2.0-or-later
"""Playing a scenario's runtime steps on the real VM: QMP commands to QEMU over a unix
socket, guest commands to the initramfs over the serial console.

The initramfs prints ``=====READY=====`` once booted (with ``hotplugtest`` on the command
line); then each guest command is written to the console and its output ends with
``=====DONE=====``.  QMP commands run in between, and each is written into the serial log
as ``=====QMP COMMAND ARGS -> REPLY=====`` (the corpus' form, which its facts.py reads).
After the last step the player writes ``end`` and init powers the VM off.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from memhp.verify.kernel import VerifyError

__all__ = ["Player", "Qmp"]


class Qmp:
    """A minimal QMP client: greeting, qmp_capabilities, then one command at a time
    (asynchronous events are kept, not waited for)."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise VerifyError(f"cannot connect to QEMU's QMP socket {path}: "
                                      f"{e.strerror}") from None
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self._read()  # the greeting
        self.command("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except OSError as e:
                raise VerifyError(f"QMP: {e}") from None
            if not chunk:
                raise VerifyError("QMP: QEMU closed the socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def command(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        req: dict[str, Any] = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self._read()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def close(self) -> None:
        self.sock.close()


@dataclass
class Player:
    """Feeds the steps to the VM as its console asks for them."""

    steps: list[dict[str, Any]]
    qmp_path: str
    write_stdin: Callable[[bytes], None] = lambda data: None
    write_log: Callable[[str], None] = lambda text: None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    index: int = 0
    ready_at: float | None = None
    started: float = field(default_factory=time.monotonic)
    qmp: Qmp | None = None
    waiting: bool = False  # a guest command is running
    done: bool = False
    step_seconds: list[float] = field(default_factory=list)
    _step_start: float = 0.0

    def on_line(self, text: str) -> None:
        line = text.rstrip("\r\n")
        if line == "=====READY=====" and self.ready_at is None:
            self.ready_at = time.monotonic() - self.started
            self.stream.write(f"memhp verify: booted in {self.ready_at:.1f} s; playing "
                              f"{len(self.steps)} steps\n")
            self.qmp = Qmp(self.qmp_path)
            self._advance()
        elif line == "=====DONE=====" and self.waiting:
            self.waiting = False
            self._finish_step()
            self._advance()

    def _finish_step(self) -> None:
        self.step_seconds.append(time.monotonic() - self._step_start)

    def _advance(self) -> None:
        assert self.qmp is not None
        while self.index < len(self.steps):
            step = self.steps[self.index]
            self.index += 1
            self._step_start = time.monotonic()
            label = step.get("guest") or step.get("qmp")
            self.stream.write(f"memhp verify: step {self.index}/{len(self.steps)}: {label}\n")
            self.stream.flush()
            if "guest" in step:
                self.waiting = True
                self.write_stdin(f"{step['guest']}\n".encode())
                return
            args = step.get("args") or {}
            reply = self.qmp.command(step["qmp"], args)
            self.write_log(f"=====QMP {step['qmp']} {json.dumps(args)} -> "
                           f"{json.dumps(reply)}=====\n")
            if "error" in reply:
                self.stream.write(f"memhp verify:   QEMU: {reply['error'].get('desc')}\n")
            self._finish_step()
        if not self.done:
            self.done = True
            for ev in self.qmp.events:
                self.write_log(f"=====QMP_EVENT {json.dumps(ev)}=====\n")
            self.write_stdin(b"end\n")
            self.qmp.close()
