# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Accuracy of `galsynth.photometry.measure` against known truth.

Galaxies are drawn from the simulator's SDSS-main-sample-like population
(`galsynth.simulation.draw_population`, ``preset='sdss'``) and rendered as
3-band 256 x 256 products with SDSS-like PSF, noise and neighbours
(`galsynth.simulation.render_galaxy`); the measured magnitudes, colours and
half-light radii are compared with the ``TRUTH`` table of each product.
Acceptance (the issue), for galaxies with true m_r < 18: median |dm_r| <= 0.05,
median |d(g-r)| <= 0.05, median R50 ratio within 10% of 1.

With real SDSS stamps (``--real DIR``, default the extraction's
``../data/sdss64`` when present) it also checks that >= 95% of the stamps get
finite magnitudes and plots their colour distribution.

Run: ``python benchmarks/validate_photometry.py [--n 200] [--jobs 1]``.
Writes ``benchmarks/results/photometry_validation.json``,
``docs/_static/photometry_validation.png`` and (with real stamps)
``docs/_static/sdss_colours.png``.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import write_results

__all__ = []

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / 'docs' / '_static'
MAG_LIMIT = 18.0
CRITERIA = {'median_abs_dmag_r': 0.05, 'median_abs_dcolor_g_r': 0.05, 'r50_ratio_tolerance': 0.10}


def simulate(n, size, seed):
    from galsynth.simulation import draw_population, render_galaxy

    population = draw_population(n, seed=seed, preset='sdss')
    return [render_galaxy(row, size=size, bands='gri') for row in population]


def truth_table(products):
    from galsynth.products import galaxy_truth

    keys = ('mag_g', 'mag_r', 'mag_i', 'r50', 'type', 'bulge_to_total', 'seeing',
            'n_neighbours', 'n_stars')
    rows = [galaxy_truth(h) for h in products]
    return {k: np.array([r[k] for r in rows]) for k in keys}


def _stats(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {'n': 0}
    p16, p50, p84 = np.percentile(x, [16, 50, 84])
    return {'n': int(x.size), 'median': float(p50), 'p16': float(p16), 'p84': float(p84),
            'median_abs': float(np.median(np.abs(x)))}


def compare(table, truth, morphology):
    from galsynth.photometry import PhotometryFlag

    bright = truth['mag_r'] < MAG_LIMIT
    d_r = table['mag_r'].value - truth['mag_r']
    d_kron = table['mag_kron_r'].value - truth['mag_r']
    d_g = table['mag_g'].value - truth['mag_g']
    d_gr = table['color_g_r'].value - (truth['mag_g'] - truth['mag_r'])
    ratio_obs = table['r50'].value / truth['r50']
    out = {
        'n_galaxies': int(len(table)), 'n_bright': int(bright.sum()),
        'finite_mag_r_fraction': float(np.isfinite(table['mag_r']).mean()),
        'dmag_r': _stats(d_r[bright]), 'dmag_kron_r': _stats(d_kron[bright]),
        'dmag_g': _stats(d_g[bright]), 'dcolor_g_r': _stats(d_gr[bright]),
        'r50_observed_ratio': _stats(ratio_obs[bright]),
        'dmag_r_all': _stats(d_r),
        'flag_counts': {f.name: int(((table['flags'] & f) != 0).sum()) for f in PhotometryFlag},
        'clean_fraction': float((table['flags'] == 0).mean()),
    }
    red = truth['type'] == 'red'
    out['dmag_r_red'] = _stats(d_r[bright & red])
    out['dmag_r_blue'] = _stats(d_r[bright & ~red])
    checks = {
        'median_abs_dmag_r': out['dmag_r']['median_abs'] <= CRITERIA['median_abs_dmag_r'],
        'median_abs_dcolor_g_r': (out['dcolor_g_r']['median_abs']
                                  <= CRITERIA['median_abs_dcolor_g_r']),
    }
    if morphology:
        ratio = table['r50_psfcorr'].value / truth['r50']
        out['r50_psfcorr_ratio'] = _stats(ratio[bright])
        out['r50_psfcorr_within_10pc'] = float(np.mean(np.abs(ratio[bright] - 1) < 0.1))
        sersic = table['sersic_r50'].value / truth['r50']
        out['r50_sersic_ratio'] = _stats(sersic[bright])
        out['r50_sersic_within_10pc'] = float(np.mean(np.abs(sersic[bright] - 1) < 0.1))
        out['sersic_fit_failed'] = int(np.sum(~np.isfinite(ratio)))
        checks['median_r50_ratio'] = (abs(out['r50_psfcorr_ratio']['median'] - 1)
                                      <= CRITERIA['r50_ratio_tolerance'])
    out['checks'] = checks
    out['passed'] = bool(all(checks.values()))
    return out


def figure(table, truth, morphology, path):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    bright = truth['mag_r'] < MAG_LIMIT
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    ax = axes[0]
    lims = [np.nanmin(truth['mag_r']) - 0.3, np.nanmax(truth['mag_r']) + 0.3]
    ax.plot(lims, lims, 'k-', lw=0.8)
    ax.scatter(truth['mag_r'], table['mag_kron_r'].value, s=10, c='tab:orange', marker='x',
               label='Kron', alpha=0.7)
    ax.scatter(truth['mag_r'], table['mag_r'].value, s=10, c='tab:blue',
               label='dilated segment (mag_r)')
    ax.axvline(MAG_LIMIT, color='grey', ls=':', lw=0.8)
    ax.set(xlim=lims, ylim=lims, xlabel='true $m_r$', ylabel='measured $m_r$')
    d = np.nanmedian(np.abs(table['mag_r'].value[bright] - truth['mag_r'][bright]))
    ax.set_title(f'median |$\\Delta m_r$| = {d:.3f} ($m_r$ < {MAG_LIMIT:g})', fontsize=10)
    ax.legend(fontsize=8, loc='upper left')

    ax = axes[1]
    true_gr = truth['mag_g'] - truth['mag_r']
    lims = [np.nanmin(true_gr) - 0.1, np.nanmax(true_gr) + 0.1]
    ax.plot(lims, lims, 'k-', lw=0.8)
    colours = np.where(truth['type'] == 'red', 'tab:red', 'tab:blue')
    ax.scatter(true_gr[bright], table['color_g_r'].value[bright], s=10, c=colours[bright])
    ax.set(xlim=lims, ylim=lims, xlabel='true $g-r$', ylabel='measured $g-r$')
    d = np.nanmedian(np.abs(table['color_g_r'].value[bright] - true_gr[bright]))
    ax.set_title(f'median |$\\Delta(g-r)$| = {d:.3f} (red / blue galaxies)', fontsize=10)

    ax = axes[2]
    lims = [0.3, 30]
    ax.plot(lims, lims, 'k-', lw=0.8)
    ax.scatter(truth['r50'][bright], table['r50'].value[bright], s=10, facecolors='none',
               edgecolors='grey', label='r50 (observed, with PSF)')
    title = 'half-light radius'
    if morphology:
        ax.scatter(truth['r50'][bright], table['r50_psfcorr'].value[bright], s=10,
                   c='tab:green', label='r50_psfcorr (PSF-corrected)')
        ratio = np.nanmedian(table['r50_psfcorr'].value[bright] / truth['r50'][bright])
        title = f'median r50_psfcorr / true r50 = {ratio:.3f}'
    ax.set(xscale='log', yscale='log', xlim=lims, ylim=lims, xlabel='true r50 [arcsec]',
           ylabel='measured [arcsec]')
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc='upper left')
    fig.suptitle(f'galsynth.photometry on {len(table)} simulated SDSS-like galaxies '
                 '(g, r, i; 256 x 256)', fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def real_stamps(folder, sim_table, sim_truth, path, jobs):
    from galsynth.photometry import measure

    files = sorted(Path(folder).rglob('*.fits'))
    if not files:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        table = measure(files, morphology=False, jobs=jobs)
    finite = np.isfinite(table['mag_g']) & np.isfinite(table['mag_r'])
    result = {'folder': str(folder), 'n_stamps': len(files),
              'finite_fraction': float(finite.mean()),
              'passed': bool(finite.mean() >= 0.95),
              'n_warnings': len(caught),
              'color_g_r': _stats(table['color_g_r'].value[finite]),
              'mag_r': _stats(table['mag_r'].value[finite])}
    if path is not None:
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        bins = np.linspace(-0.2, 1.8, 26)
        gr = table['color_g_r'].value[finite]
        axes[0].hist(gr, bins=bins, histtype='stepfilled', alpha=0.6, density=True,
                     label=f'real SDSS stamps ({finite.sum()})')
        sim_gr = sim_table['color_g_r'].value
        axes[0].hist(sim_gr[np.isfinite(sim_gr)], bins=bins, histtype='step', lw=1.5,
                     density=True, label=f'simulated ({np.isfinite(sim_gr).sum()})')
        axes[0].set(xlabel='$g-r$ (measured)', ylabel='density')
        axes[0].legend(fontsize=8)
        axes[1].scatter(table['mag_r'].value[finite], gr, s=12, label='real SDSS stamps')
        axes[1].scatter(sim_table['mag_r'].value, sim_gr, s=6, alpha=0.5, label='simulated')
        axes[1].set(xlabel='$m_r$', ylabel='$g-r$', ylim=(-0.2, 1.8))
        axes[1].legend(fontsize=8)
        fig.suptitle('Measured colours of real SDSS galaxy stamps (galsynth.photometry)',
                     fontsize=11)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
    return result


def default_real_folder():
    env = os.environ.get('GALSYNTH_SDSS_STAMPS')
    if env:
        return Path(env)
    candidate = ROOT.parent / 'data' / 'sdss64'
    return candidate if candidate.is_dir() else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=200, help='simulated galaxies (default 200)')
    parser.add_argument('--size', type=int, default=256, help='stamp size (default 256)')
    parser.add_argument('--seed', type=int, default=2024, help='population seed')
    parser.add_argument('--jobs', type=int, default=1, help='worker processes')
    parser.add_argument('--no-morphology', action='store_true',
                        help='skip statmorph (no PSF-corrected sersic_r50)')
    parser.add_argument('--real', type=Path, default=None,
                        help='folder of real SDSS stamps (default ../data/sdss64 if present)')
    parser.add_argument('--no-figures', action='store_true', help='do not write the PNGs')
    args = parser.parse_args()
    morphology = not args.no_morphology

    t0 = time.perf_counter()
    products = simulate(args.n, args.size, args.seed)
    t_sim = time.perf_counter() - t0
    from galsynth.photometry import measure

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        table = measure(products, morphology=morphology, jobs=args.jobs,
                        progress=sys.stderr.isatty())
    t_measure = time.perf_counter() - t0
    truth = truth_table(products)
    result = compare(table, truth, morphology)
    result.update({'n': args.n, 'size': args.size, 'seed': args.seed,
                   'morphology': morphology, 'jobs': args.jobs, 'criteria': CRITERIA,
                   'mag_limit': MAG_LIMIT, 'n_warnings': len(caught),
                   'simulate_s': round(t_sim, 1), 'measure_s': round(t_measure, 1)})

    print(f'{args.n} simulated galaxies ({args.size}^2, g r i), {result["n_bright"]} with '
          f'true m_r < {MAG_LIMIT:g}; measured in {t_measure:.0f} s')
    rows = [('median |dm_r| (dilated segment)', result['dmag_r']['median_abs'], 0.05),
            ('median dm_r (bias)', result['dmag_r']['median'], None),
            ('median |dm_r| Kron', result['dmag_kron_r']['median_abs'], None),
            ('median |d(g-r)|', result['dcolor_g_r']['median_abs'], 0.05),
            ('median r50 / true (observed, PSF-convolved)',
             result['r50_observed_ratio']['median'], None)]
    if morphology:
        rows.append(('median r50_psfcorr / true r50 (PSF-corrected)',
                     result['r50_psfcorr_ratio']['median'], '1 +- 0.10'))
        rows.append(('fraction of r50_psfcorr within 10%', result['r50_psfcorr_within_10pc'],
                     None))
        rows.append(('median sersic_r50 / true r50 (model)', result['r50_sersic_ratio']['median'],
                     None))
    for label, value, goal in rows:
        print(f'  {label:48s} {value:8.4f}   goal {goal if goal is not None else "-"}')
    print(f'  flags: {result["flag_counts"]}')
    print(f'  acceptance: {"PASSED" if result["passed"] else "FAILED"} {result["checks"]}')

    if not args.no_figures:
        figure(table, truth, morphology, STATIC / 'photometry_validation.png')
    folder = args.real or default_real_folder()
    if folder is not None and Path(folder).is_dir():
        real = real_stamps(folder, table, truth,
                           None if args.no_figures else STATIC / 'sdss_colours.png', args.jobs)
        if real is not None:
            result['real_stamps'] = real
            print(f'real stamps in {folder}: {real["n_stamps"]}, finite g and r magnitudes '
                  f'for {100 * real["finite_fraction"]:.1f}% (goal >= 95%); median g-r '
                  f'{real["color_g_r"].get("median", float("nan")):.2f}')
    else:
        print('no real SDSS stamps found (use --real DIR)')
    path = write_results('photometry_validation', result)
    print(f'wrote {path}')
    return 0 if result['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
