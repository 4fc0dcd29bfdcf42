"""Run benchmarks and append their results to bench/RESULTS.md with command, machine and date.

Usage: ``python bench/run.py [bench/bench_x.py ...]`` (default: every bench/bench_*.py).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    return f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    scripts = [Path(arg) for arg in argv] or sorted(HERE.glob("bench_*.py"))
    sections = []
    for script in scripts:
        command = f"{Path(sys.executable).name} {script.relative_to(ROOT) if script.is_absolute() else script}"
        print(f"== {command}", flush=True)
        result = subprocess.run(  # noqa: S603 - our own interpreter and scripts
            [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        print(result.stdout)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return result.returncode
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        sections.append(
            f"\n## {script.stem} — {stamp}\n\n- command: `{command}`\n- machine: {machine()}\n"
            f"- database: {os.environ.get('DATABASE_URL', 'SQLite (embedded default)').split('@')[-1]}\n\n"
            f"{result.stdout.strip()}\n"
        )
    results = HERE / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmark results\n\nAppended by `make bench`; newest last.\n")
    with results.open("a") as handle:
        handle.writelines(sections)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
