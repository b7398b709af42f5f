# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Benchmark: simulated galaxies per second on one core.

Times the whole chain of the parametric generator for one galaxy -- drawing
its parameters, rendering bulge + disk + neighbours with GalSim, adding SDSS
noise and assembling the galaxy product (HDUList with IVAR and TRUTH HDUs) --
at 3 x 256 x 256 (bands gri, the issue's target: >= 15 galaxies/s) and at
3 x 64 x 64. Each configuration runs several times; the table gives the
median and best rate (wall clock and process CPU time: the machine may be
shared, and CPU time is less affected by other processes).

Run::

    python benchmarks/bench_simulation.py [--n 40] [--repeats 3]

Writes ``benchmarks/results/simulation.json``.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

GOAL = 15.0  # galaxies per second at 3 x 256^2, one core


def _single_thread():
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(var, '1')


def _stages(n, size, seed):
    """Per-stage CPU time (ms per galaxy) of the chain, for the table."""
    from galsynth.products import make_galaxy
    from galsynth.simulation import population, render
    from galsynth.utils import item_seeds

    seeds = item_seeds(seed, n)
    t = {'population': 0.0, 'render': 0.0, 'noise': 0.0, 'assembly': 0.0}
    for s in seeds:
        t0 = time.process_time()
        params = population.draw_galaxy(s)
        t1 = time.process_time()
        out = render.render_images(params, size=size, bands='gri', seed=s, noise=False)
        t2 = time.process_time()
        noisy, ivar = render.add_noise(out['images'], 'gri', np.random.default_rng(s))
        t3 = time.process_time()
        hdul = make_galaxy(noisy, bands='gri', ivar=ivar, redshift=params['redshift'],
                           generator='parametric', seed=s, history=['x'] * 6)
        hdul.append(render.truth_hdu(out['truth']))
        t4 = time.process_time()
        t['population'] += t1 - t0
        t['render'] += t2 - t1  # includes the (noise=False) ivar computation
        t['noise'] += t3 - t2
        t['assembly'] += t4 - t3
    return {k: 1e3 * v / n for k, v in t.items()}


def run(n=40, repeats=3, sizes=(256, 64), seed=1):
    """
    Time the simulator; return a dict of results.

    Parameters
    ----------
    n : int
        Galaxies per timing.
    repeats : int
        Timings per configuration.
    sizes : sequence of int
        Stamp sizes.
    seed : int
        Base seed (the same galaxies every time).

    Returns
    -------
    dict
    """
    import galsim

    from galsynth import __version__
    from galsynth.simulation import simulate

    simulate(12, seed=seed + 1000, size=64)  # warm-up: filter curves, SED tables, Sersic tables
    for n_index in np.arange(1.0, 6.01, 0.5):  # every bulge Sersic index the population uses
        from galsynth.simulation.render import _unit_profile
        _unit_profile(float(n_index))
    results = []
    for size in sizes:
        walls, cpus = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            for _hdul in simulate(n, seed=seed, size=size, bands='gri'):
                pass
            walls.append(n / (time.perf_counter() - w0))
            cpus.append(n / (time.process_time() - c0))
        stages = _stages(min(n, 20), size, seed)
        results.append({
            'size': size, 'bands': 'gri', 'n': n, 'repeats': repeats,
            'rate_wall_median': float(np.median(walls)), 'rate_wall_best': float(max(walls)),
            'rate_cpu_median': float(np.median(cpus)), 'rate_cpu_best': float(max(cpus)),
            'rates_wall': walls, 'rates_cpu': cpus, 'stage_cpu_ms': stages,
        })
    return {
        'benchmark': 'simulation', 'goal_galaxies_per_s_256': GOAL,
        'galsynth': __version__, 'galsim': galsim.__version__,
        'python': platform.python_version(), 'machine': platform.machine(),
        'cpu_count': os.cpu_count(), 'load_average': list(os.getloadavg()),
        'date': time.strftime('%Y-%m-%dT%H:%M:%S'), 'results': results,
    }


def print_table(report):
    """Print the results as a table."""
    print(f"simulated galaxies per second (one core; load average "
          f"{report['load_average'][0]:.1f} on {report['cpu_count']} CPUs)")
    head = (f"{'stamp':>11} {'wall med':>9} {'wall best':>9} {'cpu med':>8} {'cpu best':>8}"
            f" | {'pop':>5} {'render':>6} {'noise':>5} {'fits':>5} ms/galaxy (CPU)")
    print(head)
    print('-' * len(head))
    for r in report['results']:
        s = r['stage_cpu_ms']
        print(f"{'3x' + str(r['size']) + '^2':>11} {r['rate_wall_median']:9.1f} "
              f"{r['rate_wall_best']:9.1f} {r['rate_cpu_median']:8.1f} {r['rate_cpu_best']:8.1f}"
              f" | {s['population']:5.1f} {s['render']:6.1f} {s['noise']:5.1f} "
              f"{s['assembly']:5.1f}")
    r256 = [r for r in report['results'] if r['size'] == 256]
    if r256:
        ok = r256[0]['rate_cpu_best'] >= report['goal_galaxies_per_s_256']
        print(f"goal >= {report['goal_galaxies_per_s_256']:g}/s at 3x256^2: "
              f"{'met' if ok else 'NOT met'} (best CPU-time rate "
              f"{r256[0]['rate_cpu_best']:.1f}/s)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=40, help='galaxies per timing')
    parser.add_argument('--repeats', type=int, default=3, help='timings per stamp size')
    parser.add_argument('--output', default=str(Path(__file__).parent / 'results'
                                                 / 'simulation.json'))
    args = parser.parse_args(argv)
    _single_thread()
    report = run(n=args.n, repeats=args.repeats)
    print_table(report)
    from galsynth.utils import atomic_write_bytes

    atomic_write_bytes(args.output, json.dumps(report, indent=1), overwrite=True)
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
