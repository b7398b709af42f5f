# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Benchmark of ``GalaxyGenerator.generate`` with the bundled StyleGAN model.

Measures galaxies per second (including de-normalization and FITS product
assembly) at batch sizes 1 and 32 on the CPU, and the peak resident memory
of streaming n = 100 and n = 1,000 galaxies with ``iter_generate`` in a
fresh process (constant memory means the two peaks agree).

Run: ``python benchmarks/bench_generate.py`` (prints a table, writes
``benchmarks/results/generate.json``).
"""

import subprocess
import sys
import time

from _common import print_table, write_results

__all__ = []

STREAM = """
import resource, sys, torch
torch.set_num_threads(int(sys.argv[2]))
from galsynth import GalaxyGenerator
gen = GalaxyGenerator()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for hdul in gen.iter_generate(int(sys.argv[1]), seed=0, batch_size=32):
    pass
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main(threads=1):
    import torch

    from galsynth import GalaxyGenerator
    from galsynth.models import DEFAULT_MODEL

    torch.set_num_threads(threads)
    gen = GalaxyGenerator()
    rows = []
    gen.generate(2, seed=0)  # warm up
    for batch in (1, 32):
        n = 64
        t0 = time.perf_counter()
        for _ in gen.iter_generate(n, seed=1, batch_size=batch):
            pass
        dt = time.perf_counter() - t0
        rows.append({'model': DEFAULT_MODEL, 'resolution': gen.resolution, 'batch_size': batch,
                     'n': n, 'galaxies_per_s': round(n / dt, 1)})
    mem = []
    for n in (100, 1000):
        out = subprocess.run([sys.executable, '-c', STREAM, str(n), str(threads)],
                             capture_output=True, text=True, check=True).stdout.split()
        base, peak = (int(v) / 1024 for v in out)
        mem.append({'n_streamed': n, 'rss_after_load_MiB': round(base, 1),
                    'peak_rss_MiB': round(peak, 1)})
    print_table(rows, ['model', 'resolution', 'batch_size', 'n', 'galaxies_per_s'])
    print()
    print_table(mem, ['n_streamed', 'rss_after_load_MiB', 'peak_rss_MiB'])
    path = write_results('generate', {'threads': threads, 'throughput': rows, 'memory': mem})
    print(f'\nwrote {path}')


if __name__ == '__main__':
    main()
