"""What ``import grader`` saves every grader process: ``import nbformat`` in a fresh interpreter, with and without
``import grader`` first (which leaves out jsonschema's IRI parser, grader/__init__.py), side by side in one run.

    .venv/bin/python benchmarks/bench_imports.py [--runs 5]

Prints the median wall time of each kind of process and their ratio; the processes alternate, so the machine's load
falls on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    stock, lean = [], []
    for _ in range(runs):
        stock.append(seconds("import nbformat"))
        lean.append(seconds("import grader, nbformat"))
    a, b = statistics.median(stock), statistics.median(lean)
    print(f"import nbformat                 {a:6.2f} s  (median of {runs})")
    print(f"import grader, nbformat         {b:6.2f} s")
    print(f"saved per process               {a - b:6.2f} s  ({a / b:.1f}x)")


if __name__ == "__main__":
    main()
