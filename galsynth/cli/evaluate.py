# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth evaluate``: judge generated galaxies against real ones.

``galsynth evaluate --real REAL/ --generated GEN/ [--train TRAIN/] -o REPORT/``
writes ``metrics.json`` (FID, KID, CMD acceptance and its real-vs-real
baseline, property distances, nearest-neighbour statistics), the figures and
``index.html`` (see `galsynth.evaluation.evaluate`).
"""

import argparse
import json
import logging
from pathlib import Path

from . import CommandError, positive_int

__all__ = ['add_parser', 'run']

log = logging.getLogger(__name__)


def _redshift_spec(text):
    if text == 'median':
        return text
    try:
        value = float(text)
    except ValueError:
        msg = f"must be 'median' or a number; got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0:
        msg = f'must be > 0; got {value}'
        raise argparse.ArgumentTypeError(msg)
    return value


def add_parser(subparsers):
    p = subparsers.add_parser(
        'evaluate', help='compare generated galaxies with real ones (FID, CMD, properties, '
                         'memorization) and write a report',
        description='Evaluate a folder of generated galaxies (FITS products, or JPG/PNG for '
                    'the FID only) against a folder of real ones and write metrics.json, '
                    'figures and index.html into the report folder.')
    p.add_argument('--real', required=True, type=Path,
                   help='folder of real galaxies (products and/or JPG/PNG); ideally not used '
                        'for training, as it is also the held-out memorization baseline')
    p.add_argument('--generated', required=True, type=Path, help='folder of generated galaxies')
    p.add_argument('--train', type=Path, default=None,
                   help='folder of the training images, for the nearest-neighbour '
                        '(memorization) check (skipped without it)')
    p.add_argument('-o', '--output', required=True, type=Path, help='report folder')
    p.add_argument('--redshift', type=float, default=None,
                   help='redshift of real galaxies whose product has no REDSHIFT card '
                        '(needed for the CMD when none has one)')
    p.add_argument('--generated-redshift', default='median', type=_redshift_spec,
                   help="redshift given to the generated galaxies: 'median' (default: the real "
                        "sample's median, as in the method) or a number")
    p.add_argument('--k', type=float, default=1.75,
                   help='half-width of the CMD acceptance box in standard deviations '
                        '(default 1.75)')
    p.add_argument('--kcorrection', choices=('none', 'template'), default='none',
                   help="K-correction of M_r: 'none' (default, as in the method) or "
                        "'template' (CWW templates chosen by g-r)")
    p.add_argument('--border', type=int, default=0,
                   help='pixels ignored at each edge in the nearest-neighbour search '
                        '(default 0)')
    p.add_argument('--normalization', choices=('minmax', 'asinh', 'none'), default='minmax',
                   help='image normalization before the nearest-neighbour search '
                        "(default 'minmax', per image and band, as in the method)")
    p.add_argument('--no-morphology', action='store_true',
                   help='skip statmorph morphology in the photometry (faster; no Gini, M20, '
                        'asymmetry, Sersic n)')
    p.add_argument('--no-fid', action='store_true',
                   help='skip FID and KID (they need the galsynth[fid] extra)')
    p.add_argument('--cache-dir', type=Path, default=None,
                   help='Inception feature cache folder (default $GALSYNTH_CACHE_DIR/fid or '
                        '~/.cache/galsynth/fid)')
    p.add_argument('--no-cache', action='store_true', help='do not cache Inception features')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of every random choice (baseline splits, permutations, KID '
                        'subsets, sample grids; default 0)')
    p.add_argument('-j', '--jobs', type=positive_int, default=1,
                   help='worker processes for the photometry (default 1)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing report')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    p.set_defaults(func=run)
    return p


def run(args):
    from ..evaluation import evaluate

    if args.border < 0:
        raise CommandError(f'--border must be >= 0; got {args.border}')
    if not args.k > 0:
        raise CommandError(f'--k must be > 0; got {args.k}')
    for label, path in (('--real', args.real), ('--generated', args.generated),
                        ('--train', args.train)):
        if path is not None and not path.is_dir():
            raise CommandError(f'{label} {path}: no such folder')
    metrics = evaluate(
        args.real, args.generated, train=args.train, out_dir=args.output,
        redshift=args.redshift, generated_redshift=args.generated_redshift, k=args.k,
        compute_fid=not args.no_fid, cache_dir=False if args.no_cache else args.cache_dir,
        kcorrection=None if args.kcorrection == 'none' else args.kcorrection,
        border=args.border, normalization=None if args.normalization == 'none'
        else args.normalization, morphology=not args.no_morphology, seed=args.seed,
        jobs=args.jobs, progress=not args.no_progress, overwrite=args.overwrite)
    summary = {key: metrics.get(key) for key in (
        'fid', 'kid', 'cmd_acceptance', 'cmd_acceptance_real_baseline', 'wasserstein_mean',
        'property_frechet', 'nn_mse_median', 'n_real', 'n_generated')}
    log.info('evaluation: %s', json.dumps(summary))
    print(f'report written to {args.output / "index.html"}')
    for key, value in summary.items():
        print(f'  {key:30s} {value if value is not None else "n/a"}')
    return 0
