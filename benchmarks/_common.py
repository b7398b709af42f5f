# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Shared helpers of the benchmark scripts: timing, tables and JSON output."""

import json
import os
import platform
import time
from pathlib import Path

__all__ = ['RESULTS', 'machine_info', 'timeit', 'print_table', 'write_results']

RESULTS = Path(__file__).parent / 'results'


def machine_info():
    """A dict describing the machine the numbers were measured on."""
    import torch

    return {'python': platform.python_version(), 'machine': platform.machine(),
            'cpu_count': os.cpu_count(), 'torch': torch.__version__,
            'torch_threads': torch.get_num_threads(),
            'date': time.strftime('%Y-%m-%dT%H:%M:%S')}


def timeit(func, *, repeat=3, number=1):
    """Best wall time per call of ``func`` over ``repeat`` rounds of ``number`` calls."""
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def print_table(rows, columns):
    """Print a list of dicts as an aligned text table (benchmark scripts only)."""
    widths = [max(len(c), *(len(f'{r.get(c, "")}') for r in rows)) for c in columns]
    line = '  '.join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line)
    print('  '.join('-' * w for w in widths))
    for r in rows:
        print('  '.join(f'{r.get(c, "")}'.ljust(w) for c, w in zip(columns, widths, strict=True)))


def write_results(name, payload):
    """Write ``benchmarks/results/<name>.json`` and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f'{name}.json'
    payload = {'machine': machine_info(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float) + '\n')
    return path
