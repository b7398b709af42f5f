# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Run every benchmark script of this folder in turn (each prints its table and
writes ``results/<name>.json``). Usage: ``python benchmarks/run_all.py
[name ...]`` with names like ``simulation`` or ``stylegan``.
"""

import subprocess
import sys
from pathlib import Path

__all__ = []

HERE = Path(__file__).parent


def main(names):
    scripts = sorted(HERE.glob('bench_*.py'))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix('bench_') in names]
    status = 0
    for script in scripts:
        print(f'== {script.stem} ==', flush=True)
        status |= subprocess.run([sys.executable, str(script)], cwd=HERE).returncode
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
