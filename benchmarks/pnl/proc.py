"""Run a benchmark subprocess in its own process group, with a log and a wall-clock cap.

On timeout the whole group is killed (by its id), so a driver's children — LibreOffice's
``soffice.bin`` — do not outlive it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


def run_logged(
    cmd: Sequence[str], log_path: Path, timeout_s: float, cwd: Path | None = None
) -> None:
    """Run ``cmd`` appending its output to ``log_path``; raise CalledProcessError/TimeoutExpired."""
    with log_path.open("a") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=log, cwd=cwd, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if rc != 0:
            raise subprocess.CalledProcessError(rc, list(cmd))
