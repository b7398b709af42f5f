# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth generate``: write galaxy products from a generator backend.

This is the main job: ``galsynth generate -n 100 -o out/`` writes 100
galaxies from the bundled StyleGAN model, ``catalog.ecsv`` (one row per
file: seed, latent index, position, redshift, truncation, model SHA-256) and,
with ``--preview``, a PNG grid of the first 64.
"""

import logging
from pathlib import Path

from astropy.table import Table
from tqdm.auto import tqdm

from . import CommandError, positive_int

__all__ = ['add_parser', 'run']

log = logging.getLogger(__name__)


def add_parser(subparsers):
    p = subparsers.add_parser(
        'generate', help='generate galaxy FITS products (the bundled StyleGAN by default)',
        description='Generate N galaxies as FITS products (nanomaggies, TAN WCS, provenance) '
                    'plus catalog.ecsv. Same --seed, same files.')
    p.add_argument('-n', type=positive_int, required=True, help='number of galaxies (>= 1)')
    p.add_argument('-o', '--output', required=True, type=Path, help='output folder')
    p.add_argument('--backend', default='stylegan',
                   help="generator backend: 'stylegan' (default), 'parametric' (GalSim "
                        'simulator) or a plugin name')
    p.add_argument('--model', default=None,
                   help='StyleGAN model: a bundled model name or a checkpoint path '
                        '(default: the bundled default model)')
    p.add_argument('--seed', type=int, default=0, help='base random seed (default 0)')
    p.add_argument('--psi', type=float, default=1.0,
                   help='truncation psi in (0, 2] (StyleGAN; default 1 = no truncation)')
    p.add_argument('--ra', type=float, default=None, help='RA of the image centres [deg]')
    p.add_argument('--dec', type=float, default=None, help='Dec of the image centres [deg]')
    p.add_argument('--redshift', type=float, default=None,
                   help='redshift recorded in the products (REDSHIFT card)')
    p.add_argument('--size', type=positive_int, default=None,
                   help='image size in pixels (parametric backend; default 256)')
    p.add_argument('--bands', default=None, help="bands (parametric backend; default 'gri')")
    p.add_argument('--batch-size', type=positive_int, default=16,
                   help='galaxies per network pass (StyleGAN; default 16)')
    p.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda'")
    p.add_argument('--preview', action='store_true',
                   help='also write preview.png, an RGB grid of the first 64 galaxies')
    p.add_argument('--overwrite', action='store_true', help='replace existing files')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)
    return p


def run(args):
    from ..generator import GalaxyGenerator
    from ..products import galaxy_truth, write_galaxy
    from ..utils.io import atomic_write, check_output_dir
    from ..visualization import save_rgb_grid

    out = check_output_dir(args.output)
    names = [f'galaxy_{k:06d}.fits' for k in range(args.n)]
    clash = [name for name in names + ['catalog.ecsv'] if (out / name).exists()]
    if clash and not args.overwrite:
        raise CommandError(f'{out / clash[0]} exists ({len(clash)} files would be replaced); '
                           'use --overwrite')
    options = {}
    kwargs = {'seed': args.seed, 'ra': args.ra, 'dec': args.dec, 'redshift': args.redshift}
    if args.backend == 'stylegan':
        options['device'] = args.device
        if args.model is not None:
            options['model'] = args.model
        kwargs.update(truncation_psi=args.psi, batch_size=args.batch_size)
    else:
        if args.model is not None:
            options['model'] = args.model
        if args.size is not None:
            kwargs['size'] = args.size
        if args.bands is not None:
            kwargs['bands'] = args.bands
    gen = GalaxyGenerator(backend=args.backend, **options)
    rows, preview = [], []
    bar = tqdm(total=args.n, desc='generate', unit='galaxy', disable=args.no_progress)
    for name, hdul in zip(names, gen.iter_generate(args.n, **kwargs), strict=True):
        write_galaxy(hdul, out / name, overwrite=args.overwrite)
        hdr = hdul[0].header
        row = {'file': name, 'seed': hdr.get('SEED', -1), 'latent_index': hdr.get('LATENTIX', -1),
               'ra': hdr['RA'], 'dec': hdr['DEC'], 'redshift': hdr['REDSHIFT'],
               'truncation_psi': hdr.get('TRUNCPSI', float('nan')),
               'generator': hdr['GENERATR'], 'model': hdr.get('MODEL', ''),
               'model_sha256': hdr.get('MODELSHA', '')}
        truth = galaxy_truth(hdul)
        if truth:
            row.update({f'true_{k}': v for k, v in truth.items()})
        rows.append(row)
        if args.preview and len(preview) < 64:
            preview.append(hdul)
        bar.update(1)
    bar.close()
    table = Table(rows=rows)
    table.meta['comments'] = [f'galsynth generate: n={args.n} backend={args.backend} '
                              f'seed={args.seed}']
    with atomic_write(out / 'catalog.ecsv', overwrite=True, mode='path') as tmp:
        table.write(tmp, format='ascii.ecsv', overwrite=True)
    if preview:
        save_rgb_grid(preview, out / 'preview.png', overwrite=True)
    log.info('wrote %d galaxies to %s', args.n, out)
    return 0
