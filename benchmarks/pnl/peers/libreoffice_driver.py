"""LibreOffice Calc driver: run by Debian's ``/usr/bin/python3`` (it has ``uno``), stdlib only.

    /usr/bin/python3 libreoffice_driver.py JOB.json OUT.json PROFILE_DIR

Starts its own ``soffice --headless --invisible --norestore --accept=socket,...`` with a private
user profile, connects over UNO, and on the job's workbook measures: load
(``loadComponentFromURL``), full recalc (``calculateAll``), the report read cold and warm
(``getDataArray`` of the Report block), single Units writes (``setValue``) each followed by reading
EBIT[Total,Total,FY] and RevYTD[p,r,Dec] (``getValue``), and a bulk replace of every Units value
(``setDataArray``) followed by the report read. Memory is the RSS delta of ``soffice.bin`` from
before the load to after the recalc. Every UNO call crosses a socket to soffice, so each write and
read pays that round trip too (as any program driving LibreOffice does).

Prints progress to stderr and writes the raw result (see ``benchmarks/pnl/harness.py``) to OUT.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException


def log(msg: str) -> None:
    print(f"[libreoffice] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def find_soffice_bin(marker: str) -> int | None:
    """The pid of the soffice.bin whose command line carries our unique accept string."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"soffice.bin") and any(marker.encode() in c for c in cmd):
            return int(entry)
    return None


def prop(name: str, value: Any) -> Any:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


class Office:
    """A private soffice process and a UNO connection to it."""

    def __init__(self, profile: Path) -> None:
        exe = shutil.which("soffice") or "/usr/lib/libreoffice/program/soffice"
        port = free_port()
        self.accept = f"socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext"
        cmd = [
            exe,
            f"-env:UserInstallation={profile.resolve().as_uri()}",
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"--accept={self.accept}",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        url = f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext"
        deadline = time.monotonic() + 120
        while True:
            try:
                self.ctx = resolver.resolve(url)
                break
            except NoConnectException:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("soffice did not accept a UNO connection") from None
                time.sleep(0.25)
        self.desktop = self.ctx.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", self.ctx
        )
        self.bin_pid = find_soffice_bin(f"port={port}") or self.proc.pid

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the bridge drops as soffice exits
            self.desktop.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.bin_pid != self.proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.bin_pid, 9)


def version() -> str:
    exe = shutil.which("soffice") or "/usr/lib/libreoffice/program/soffice"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    return out.strip()


def cell_range(sheet: Any, rng: list[int]) -> Any:
    r0, c0, r1, c1 = rng
    return sheet.getCellRangeByPosition(c0, r0, c1, r1)


def as_numbers(data: Any) -> list[list[Any]]:
    return [list(row) for row in data]


def run(job: dict[str, Any], profile: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"version": version()}
    notes: list[str] = []
    office = Office(profile)
    try:
        before = rss(office.bin_pid)
        url = Path(job["xlsx"]).resolve().as_uri()
        t = time.perf_counter()
        doc = office.desktop.loadComponentFromURL(url, "_blank", 0, (prop("Hidden", True),))
        out["load_s"] = time.perf_counter() - t
        log(f"load {out['load_s']:.3f} s")
        doc.enableAutomaticCalculation(True)
        sheets = doc.getSheets()
        units = sheets.getByName(job["sheets"]["units"])
        ytd = sheets.getByName(job["sheets"]["revytd"])
        report = sheets.getByName(job["sheets"]["report"])

        t = time.perf_counter()
        doc.calculateAll()
        out["full_recalc_s"] = time.perf_counter() - t
        log(f"full recalc {out['full_recalc_s']:.3f} s")
        out["bytes_per_cell"] = (rss(office.bin_pid) - before) / job["leaf_cells"]
        out["bytes_method"] = "RSS delta of soffice.bin, before load to after calculateAll"

        rep = cell_range(report, job["report_range"])
        t = time.perf_counter()
        out["report"] = as_numbers(rep.getDataArray())
        out["slice_cold_ms"] = (time.perf_counter() - t) * 1e3
        warm: list[float] = []
        start = time.perf_counter()
        for _ in range(job["samples"]):
            t = time.perf_counter()
            data = rep.getDataArray()
            warm.append((time.perf_counter() - t) * 1e3)
            if len(warm) >= job["min_samples"] and time.perf_counter() - start > job["budget_s"]:
                notes.append(f"{len(warm)} warm slice samples (time cap)")
                break
        out["slice_warm_ms"] = statistics.median(warm)
        out["report_warm"] = as_numbers(data)
        log(f"slice cold {out['slice_cold_ms']:.3f} ms, warm {out['slice_warm_ms']:.3f} ms")

        probe = units.getCellByPosition(job["bulk_range"][1], job["bulk_range"][0])
        calls = []
        for _ in range(30):
            t = time.perf_counter()
            probe.getValue()
            calls.append((time.perf_counter() - t) * 1e3)
        out["extra"] = {"uno_call_ms": statistics.median(calls)}

        total_row, total_col = job["ebit_total"]
        total_cell = report.getCellByPosition(total_col, total_row)
        write_ms: list[float] = []
        readings: list[list[float]] = []
        start = time.perf_counter()
        for w in job["writes"]:
            target = units.getCellByPosition(w["col"], w["row"])
            ytd_cell = ytd.getCellByPosition(w["ytd_col"], w["ytd_row"])
            t = time.perf_counter()
            target.setValue(w["value"])
            total = total_cell.getValue()
            dec = ytd_cell.getValue()
            write_ms.append((time.perf_counter() - t) * 1e3)
            readings.append([total, dec])
            if (
                len(write_ms) >= job["min_samples"]
                and time.perf_counter() - start > job["budget_s"]
            ):
                notes.append(f"{len(write_ms)} write samples (time cap)")
                break
        out["write_ms"] = write_ms
        out["write_readings"] = readings
        log(f"writes: {len(write_ms)}, median {statistics.median(write_ms):.3f} ms")

        bulk_rows = tuple(tuple("" if v is None else v for v in row) for row in job["bulk_values"])
        target_range = cell_range(units, job["bulk_range"])
        t = time.perf_counter()
        target_range.setDataArray(bulk_rows)
        out["report_bulk"] = as_numbers(rep.getDataArray())
        out["bulk_s"] = time.perf_counter() - t
        log(f"bulk {out['bulk_s']:.3f} s")
        doc.close(True)
    finally:
        office.close()
    out["note"] = "; ".join(notes)
    return out


def main() -> int:
    job_path, out_path, profile = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    job = json.loads(job_path.read_text())
    result = run(job, profile)
    out_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
