# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Benchmark of the evaluation suite (`galsynth.evaluation`).

* Nearest-neighbour (memorization) search: 1,000 generated against 55,000
  training images of 3 x 64 x 64 (the method's training-set size), random
  data with 10 planted copies that must be found. Goal: <= 60 s on 2 cores.
* Inception-v3 features per second on the CPU (64 x 64 pictures resized to
  299 x 299), at 1 and 2 torch threads.
* FID and KID from 1,000 + 1,000 feature vectors.

Run: ``python benchmarks/bench_evaluation.py [--quick] [--threads N]``
(prints a table, writes ``benchmarks/results/evaluation.json``). ``cpu_s`` is
the CPU time of all threads: on a shared machine ``cpu_s / threads``
roughly estimates the wall time on idle cores. ``--quick``
uses 5,500 training images. The random training set needs 2.7 GB of memory.
"""

import argparse
import os
import time

import numpy as np
from _common import print_table, write_results

__all__ = []


def bench_nearest_neighbors(n_gen, n_train, threads):
    import torch

    from galsynth.evaluation.memorization import nearest_neighbors

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    train = rng.random((n_train, 3, 64, 64), dtype=np.float32)
    gen = rng.random((n_gen, 3, 64, 64), dtype=np.float32)
    planted = rng.choice(n_train, 10, replace=False)
    gen[:10] = train[planted]
    t_data = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    mse, idx = nearest_neighbors(gen, train, k=4, chunk_size=4096)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    found = int(np.sum(idx[:10, 0] == planted))
    flops = 2.0 * n_gen * n_train * 3 * 64 * 64
    return {'task': f'nearest neighbours {n_gen} x {n_train} (3x64x64, k=4)',
            'threads': threads, 'seconds': round(elapsed, 2), 'cpu_s': round(cpu, 1),
            'rate': f'{flops / elapsed / 1e9:.0f} GFLOP/s',
            'note': f'planted copies found {found}/10; random data made in {t_data:.1f} s',
            'goal_s': 60 if n_train >= 55000 else None, 'planted_found': found}


def bench_inception(threads, n=32, batch_size=16):
    import torch

    from galsynth.evaluation.fid import inception_features, load_inception

    torch.set_num_threads(threads)
    load_inception()
    rng = np.random.default_rng(1)
    pics = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    inception_features(pics[:2])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    inception_features(pics, batch_size=batch_size)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {'task': f'Inception features, {n} pictures 64x64 -> 299x299, batch {batch_size}',
            'threads': threads, 'seconds': round(elapsed, 2), 'cpu_s': round(cpu, 1),
            'rate': f'{n / elapsed:.2f} img/s', 'images_per_second': n / elapsed,
            'note': f'1,000 images: {1000 / (n / elapsed) / 60:.1f} min'}


def bench_fid_kid(threads):
    import torch

    from galsynth.evaluation.fid import fid_from_features, kid_from_features

    torch.set_num_threads(threads)
    rng = np.random.default_rng(2)
    f1 = rng.gamma(1.0, 0.3, (1000, 2048))
    f2 = rng.gamma(1.1, 0.3, (1000, 2048))
    t0, c0 = time.perf_counter(), time.process_time()
    value = fid_from_features(f1, f2)
    t_fid, c_fid = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    kid_from_features(f1, f2, n_subsets=100, subset_size=1000)
    t_kid, c_kid = time.perf_counter() - t0, time.process_time() - c0
    return [{'task': 'FID from 1000 + 1000 features', 'threads': threads,
             'seconds': round(t_fid, 2), 'cpu_s': round(c_fid, 1), 'rate': '',
             'note': f'FID {value:.3f}'},
            {'task': 'KID from 1000 + 1000 features (100 subsets of 1000)',
             'threads': threads, 'seconds': round(t_kid, 2), 'cpu_s': round(c_kid, 1),
             'rate': '', 'note': ''}]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='5,500 training images only')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    parser.add_argument('--skip-inception', action='store_true',
                        help='skip the Inception benchmark')
    args = parser.parse_args(argv)
    rows = []
    n_train = 5500 if args.quick else 55000
    rows.append(bench_nearest_neighbors(1000, n_train, args.threads))
    if not args.skip_inception:
        try:
            for threads in sorted({1, args.threads}):
                rows.append(bench_inception(threads))
        except ImportError as exc:
            rows.append({'task': 'Inception features', 'note': f'skipped: {exc}'})
    rows.extend(bench_fid_kid(args.threads))
    print_table(rows, ['task', 'threads', 'seconds', 'cpu_s', 'rate', 'note'])
    path = write_results('evaluation', {
        'rows': rows,
        'load_average': os.getloadavg(),
        'note': ('timings on a machine shared with other jobs are noisy (see load_average); '
                 'cpu_s is the CPU time of all threads, cpu_s / threads roughly the wall '
                 'time on idle cores; the nearest-neighbour goal is <= 60 s for '
                 '1,000 x 55,000 on 2 cores')})
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
