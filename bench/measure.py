"""Run one command as a child process under a time and memory limit, and measure it.

The wall time covers the whole child process, start-up included. The peak resident set size is the
child's ru_maxrss from wait4, which also covers the children it waited for (the cp and sync of a
shell). A monitor thread samples the child's resident memory every MONITOR_INTERVAL seconds and
kills its process group when it passes the limit or the time runs out.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

MONITOR_INTERVAL = 0.1
# Lines of the child's output kept in a failure message.
MESSAGE_LINES = 3


@dataclasses.dataclass
class Measurement:
    """Outcome of one child process: status "ok" or why it failed, wall time, CPU time (user plus
    system) and peak RSS."""

    status: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def resident_mib(pid: int) -> float:
    """Return the current VmRSS of PID in MiB, or 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


class _Limits(threading.Thread):
    """Kill the child's process group when it runs too long or uses too much memory."""

    def __init__(self, pid: int, timeout_seconds: float, memory_limit_mib: float) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.timeout_seconds = timeout_seconds
        self.memory_limit_mib = memory_limit_mib
        self.reason = ""
        self.finished = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.finished.wait(MONITOR_INTERVAL):
            if time.perf_counter() - start > self.timeout_seconds:
                self._kill(f"timed out after {self.timeout_seconds:g} s")
            elif resident_mib(self.pid) > self.memory_limit_mib:
                self._kill(f"over the memory limit of {self.memory_limit_mib:.0f} MiB")

    def _kill(self, reason: str) -> None:
        self.reason = reason
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.finished.set()


def _tail(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(lines[-MESSAGE_LINES:])


def run_measured(command: list[str], log_path: Path, timeout_seconds: float, memory_limit_mib: float,
                 environment: dict[str, str] | None = None) -> Measurement:
    """Run COMMAND with its output in LOG_PATH, and return its status, wall time and peak RSS."""
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True)
        limits = _Limits(process.pid, timeout_seconds, memory_limit_mib)
        limits.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    limits.finished.set()
    limits.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu_seconds = usage.ru_utime + usage.ru_stime
    peak_rss_mib = usage.ru_maxrss / 1024.0

    if limits.reason:
        status_text = limits.reason
    elif process.returncode < 0:
        # A SIGKILL that the monitor did not send usually comes from the kernel's OOM killer.
        hint = " (out of memory?)" if process.returncode == -signal.SIGKILL else ""
        status_text = f"killed by {signal.Signals(-process.returncode).name}{hint}"
    elif process.returncode != 0:
        status_text = f"failed with exit code {process.returncode}"
    else:
        return Measurement("ok", seconds, cpu_seconds, peak_rss_mib)
    return Measurement(status_text, seconds, cpu_seconds, peak_rss_mib, _tail(log_path))
