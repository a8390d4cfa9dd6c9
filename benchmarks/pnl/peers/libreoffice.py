"""LibreOffice Calc peer: runs ``libreoffice_driver.py`` under Debian's python3 (it has ``uno``).

Needs ``apt-get install -y libreoffice-calc-nogui python3-uno``. The venv's Python cannot import
Debian's ``uno`` module, so the driver runs in its own process with ``/usr/bin/python3`` and
starts its own headless soffice; it gets the workbook and the operations as a job file
(:mod:`benchmarks.pnl.job`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.pnl.proc import run_logged

DRIVER = Path(__file__).with_name("libreoffice_driver.py")
SYSTEM_PYTHON = "/usr/bin/python3"
LO_PROGRAM = "/usr/lib/libreoffice/program/soffice"


def skip_reason() -> str | None:
    """Why this peer cannot run here, or None."""
    if shutil.which("soffice") is None and not Path(LO_PROGRAM).exists():
        return "soffice not found (apt-get install -y libreoffice-calc-nogui python3-uno)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import uno"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import uno (apt-get install -y python3-uno)"
    return None


def run(job_path: Path, workdir: Path, timeout_s: float, log_path: Path) -> dict[str, Any]:
    """Run the driver on a job file; the raw result, or raise on failure or timeout."""
    out = workdir / "libreoffice-result.json"
    out.unlink(missing_ok=True)
    profile = workdir / "lo-profile"
    cmd = ["nice", "-n", "5", SYSTEM_PYTHON, str(DRIVER), str(job_path), str(out), str(profile)]
    run_logged(cmd, log_path, timeout_s)
    result: dict[str, Any] = json.loads(out.read_text())
    return result
