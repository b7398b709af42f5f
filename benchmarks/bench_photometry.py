# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Benchmark of the photometry pipeline (`galsynth.photometry.measure`).

Galaxies per second for 3-band (g, r, i) 256 x 256 products from the
simulator (SDSS-like noise, PSF and neighbours), in one process (one core),
with and without the statmorph morphology columns. Goal: >= 10 galaxies/s
without morphology. Both wall-clock and CPU (process) time are reported: on a
shared machine the CPU rate is the better measure of the code.

Run: ``python benchmarks/bench_photometry.py [--n 40] [--n-morph 8]``
(prints a table, writes ``benchmarks/results/photometry.json``).
"""

import argparse
import os
import time
import warnings

from _common import print_table, write_results

__all__ = []

GOAL = 10.0


def make_products(n, size, seed):
    """Simulated products (the simulator), or plain GalSim Sersic galaxies without it."""
    try:
        from galsynth.simulation import draw_population, render_galaxy
    except ImportError:
        draw_population = None
    if draw_population is not None:
        population = draw_population(n, seed=seed, preset='sdss')
        return [render_galaxy(row, size=size, bands='gri') for row in population], 'simulator'
    import galsim
    import numpy as np

    from galsynth.products import make_galaxy

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        gal = galsim.Sersic(n=rng.uniform(1, 4), half_light_radius=rng.uniform(1, 3))
        img = galsim.Convolve(gal, galsim.Moffat(beta=3, fwhm=1.4)).drawImage(
            nx=size, ny=size, scale=0.396127).array
        cube = np.stack([img * f for f in (50, 100, 130)]) + rng.normal(0, 0.03, (3, size, size))
        out.append(make_galaxy(cube, bands='gri'))
    return out, 'galsim'


def bench(products, morphology):
    from galsynth.photometry import measure

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        measure(products[:1], morphology=morphology)  # warm-up: imports, caches
        wall0, cpu0 = time.perf_counter(), time.process_time()
        table = measure(products, morphology=morphology, progress=False)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = len(products)
    return {'task': f'measure {n} x 3-band 256x256, morphology={morphology}',
            'galaxies': n, 'wall_s': round(wall, 2), 'cpu_s': round(cpu, 2),
            'wall_rate': round(n / wall, 2), 'cpu_rate': round(n / cpu, 2),
            'goal': GOAL if not morphology else None,
            'flagged': int((table['flags'] != 0).sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=40, help='galaxies without morphology')
    parser.add_argument('--n-morph', type=int, default=8, help='galaxies with morphology')
    parser.add_argument('--size', type=int, default=256, help='stamp size (pixels)')
    parser.add_argument('--seed', type=int, default=1, help='population seed')
    args = parser.parse_args()

    products, source = make_products(max(args.n, args.n_morph), args.size, args.seed)
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
    rows = [bench(products[:args.n], morphology=False),
            bench(products[:args.n_morph], morphology=True)]
    print(f'products from the {source}; 1-minute load average {load}')
    print_table(rows, ['task', 'wall_s', 'cpu_s', 'wall_rate', 'cpu_rate', 'goal', 'flagged'])
    fast = rows[0]
    verdict = 'meets' if fast['cpu_rate'] >= GOAL else 'misses'
    print(f'without morphology: {fast["cpu_rate"]} galaxies per CPU second '
          f'({fast["wall_rate"]}/s wall) -- {verdict} the goal of {GOAL}/s on one core')
    path = write_results('photometry', {'products': source, 'load_average': load,
                                        'goal_galaxies_per_s': GOAL, 'results': rows})
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
