"""`curate tui` in a real pseudo-terminal: the terminal's answers pick the image protocol.

The test plays the terminal. textual-image asks it (before Textual starts)
for its device attributes (a "4" in the answer means Sixel) and whether it
takes a Kitty graphics query; the answers are typed ahead, so no timing is
involved. Then the Review screen must draw its images with that protocol.
"""

from __future__ import annotations

import os
import select
import shutil
import struct
import sys
import time

import pytest

pty = pytest.importorskip("pty")
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

ANSWERS = {
    # DA1 answer with 4 (Sixel graphics) in its attribute list.
    "sixel": b"\x1b[?62;4;22c",
    # DA1 without Sixel, then "OK" to the Kitty graphics query (any image id).
    "kitty": b"\x1b[?62;22c\x1b_Gi=1;OK\x1b\\",
}
DRAWN = {"sixel": b"\x1bP0;0;0q", "kitty": b"\x1b_Ga=p", "halfblock": "\u2580".encode()}


def _pump(fd: int, out: bytearray, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done(out):
        assert time.monotonic() < deadline, out[-2000:]
        if select.select([fd], [], [], 0.05)[0]:
            try:
                out += os.read(fd, 1 << 16)
            except OSError:  # the child closed the terminal
                return


@pytest.mark.parametrize("terminal", ["sixel", "kitty"])
def test_the_terminal_chooses_the_protocol(digits_template, tmp_path, terminal):
    ws = tmp_path / "digits"
    shutil.copytree(digits_template, ws)
    env = {k: v for k, v in os.environ.items() if k != "CURATE_TUI_GRAPHICS"}
    env["TERM"] = "xterm-256color"
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes `curate tui`
        os.execvpe(sys.executable, [sys.executable, "-m", "curate", "tui", str(ws)], env)
    out = bytearray()
    status: list[int] = []

    def exited(_: bytearray) -> bool:
        if not status:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status.append(code)
        return bool(status)

    try:
        # 100x32 cells of 10x20 pixels.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 100, 1000, 640))
        os.write(fd, ANSWERS[terminal])
        _pump(fd, out, lambda b: b"Issues (scan run" in b, 90)
        os.write(fd, b"2")  # Review: the finding's image and its neighbours
        _pump(fd, out, lambda b: b.count(DRAWN[terminal]) >= 2 and b"nearest" in b, 90)
        os.write(fd, b"q")
        _pump(fd, out, exited, 30)
        if not status:  # the terminal closed first: the process is on its way out
            status.append(os.waitpid(pid, 0)[1])
    finally:
        if not status:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status == [0]  # quit cleanly
    drawn = {name: out.count(mark) for name, mark in DRAWN.items()}
    assert drawn[terminal] >= 2, drawn
    assert sum(n for name, n in drawn.items() if name != terminal) == 0, drawn
    assert b"Traceback" not in out
