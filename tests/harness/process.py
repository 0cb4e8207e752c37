"""Processes the harness starts, stops and reads the logs of, by their own pid."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.wait import wait_until

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child only calls into it.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """preexec_fn: the kernel kills the child when the harness dies.

    Keeps a crashed or killed pytest from leaving a control plane behind. SIGKILL, not
    SIGTERM: everything dies at once then, and a kube-apiserver shutting down gracefully
    hangs on the etcd that went with it.
    """
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


@dataclass
class ManagedProcess:
    """One component process.

    Either a child of this Python process (``_popen`` set) or, after ``python -m
    tests.harness up`` returned, a process found again from the state file by pid,
    whose identity is checked by its start time so a recycled pid is never signalled.
    """

    name: str
    argv: list[str]
    log_path: Path
    pid: int
    start_ticks: int | None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def spawn(
        cls,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str],
        cwd: Path,
        detach: bool,
    ) -> ManagedProcess:
        """Start ``argv`` with stdout and stderr appended to ``log_path``.

        The process gets a session of its own (a Ctrl-C on the terminal reaches the
        harness, which stops it, not the component directly). Unless ``detach``, it
        also dies with the harness: the kernel signals it when the spawning thread
        exits, so that is only asked for when spawning from the main thread.
        """
        die_with_parent = not detach and threading.current_thread() is threading.main_thread()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )
        return cls(name, argv, log_path, popen.pid, _proc_start_ticks(popen.pid), popen)

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        ticks = _proc_start_ticks(self.pid)
        return ticks is not None and ticks == self.start_ticks

    def exit_reason(self) -> str | None:
        """None while running; otherwise why it is not (for wait_until's abort)."""
        if self.alive():
            return None
        code = self._popen.returncode if self._popen is not None else None
        return f"{self.name} (pid {self.pid}) exited" + (
            f" with code {code}" if code is not None else ""
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it still runs after ``timeout`` seconds."""
        if not self.alive():
            self._reap()
            return
        self._signal(signal.SIGTERM)
        try:
            wait_until(lambda: not self.alive(), what=f"{self.name} to exit", timeout=timeout)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            wait_until(lambda: not self.alive(), what=f"{self.name} to die", timeout=10)
        self._reap()

    def _signal(self, sig: signal.Signals) -> None:
        # alive() has just matched the pid with its start time.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def _reap(self) -> None:
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=1)

    def log_tail(self, lines: int = 40) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 200 * lines))
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "argv": self.argv,
            "log_path": str(self.log_path),
            "pid": self.pid,
            "start_ticks": self.start_ticks,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ManagedProcess:
        return cls(
            name=str(state["name"]),
            argv=[str(a) for a in state["argv"]],
            log_path=Path(state["log_path"]),
            pid=int(state["pid"]),
            start_ticks=state.get("start_ticks"),
        )
