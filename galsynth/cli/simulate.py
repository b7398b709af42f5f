# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth simulate``: simulated galaxies (GalSim) into a folder of FITS files.
"""

from . import nonnegative_int, positive_int

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    """
    Add the ``simulate`` subcommand.

    Parameters
    ----------
    subparsers : argparse subparsers action
    """
    from ..simulation.population import PRESETS

    parser = subparsers.add_parser(
        'simulate', help='simulate galaxies with GalSim into FITS files + catalog.ecsv',
        description='Simulate bulge + disk galaxies with SDSS-like PSF, neighbours and noise '
                    '(the parametric generator) and write one galaxy product per file '
                    '(galaxy_000000.fits, ...) plus catalog.ecsv (one row per file: path and '
                    'true parameters). An interrupted run continues where it stopped when '
                    'run again with the same settings.')
    parser.add_argument('-n', type=positive_int, required=True, metavar='N',
                        help='number of galaxies (>= 1)')
    parser.add_argument('-o', '--output', required=True, metavar='DIR',
                        help='output folder (created if needed)')
    parser.add_argument('--size', type=positive_int, default=256, metavar='PIXELS',
                        help='stamp size in pixels (default 256; 0.396 arcsec pixels)')
    parser.add_argument('--bands', default='gri',
                        help="SDSS bands, e.g. 'gri' or 'ugriz' (default gri)")
    parser.add_argument('--seed', type=nonnegative_int, default=None,
                        help='base seed; galaxy k depends only on (seed, k) (default: the '
                             "folder's previous seed, else a fresh one, written to "
                             'simulation.json)')
    parser.add_argument('--jobs', type=positive_int, default=1, metavar='J',
                        help='worker processes (default 1)')
    parser.add_argument('--overwrite', action='store_true',
                        help='start over, replacing files of any earlier simulation in DIR '
                             '(without it, a folder holding a different simulation is refused)')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='sdss',
                        help="population: 'sdss' (default; SDSS main-sample-like, "
                             "0.02 <= z <= 0.25, r < 17.77) or 'training' (nearby galaxies "
                             'whose half-light radius is 8-25%% of the stamp width, to fill '
                             'GAN training stamps)')
    parser.add_argument('--min-r50', type=float, default=None, metavar='ARCSEC',
                        help='keep only galaxies with a half-light radius >= ARCSEC')
    parser.add_argument('--max-r50', type=float, default=None, metavar='ARCSEC',
                        help='keep only galaxies with a half-light radius <= ARCSEC')
    parser.add_argument('--z-range', type=float, nargs=2, default=None, metavar=('ZMIN', 'ZMAX'),
                        help="redshift range (default: the preset's)")
    parser.add_argument('--mag-limit', type=float, default=None, metavar='MAG',
                        help='r-band magnitude limit (default 17.77)')
    parser.add_argument('--no-noise', dest='noise', action='store_false',
                        help='noiseless images (the IVAR HDUs still describe SDSS noise)')
    parser.add_argument('--no-psf', dest='psf', action='store_false',
                        help='no PSF convolution')
    parser.add_argument('--no-neighbours', dest='neighbours', action='store_false',
                        help='no neighbouring galaxies and stars')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.set_defaults(func=run)
    return parser


def run(args):
    """
    Run ``galsynth simulate``.

    Parameters
    ----------
    args : `argparse.Namespace`

    Returns
    -------
    int
        Exit status.
    """
    from ..bands import check_bands
    from ..simulation.batch import CATALOG_NAME, simulate_to_dir
    from ..utils.io import check_output_dir

    bands = ''.join(check_bands(args.bands))
    folder = check_output_dir(args.output)
    options = {k: v for k, v in (('min_r50', args.min_r50), ('max_r50', args.max_r50),
                                 ('z_range', args.z_range), ('mag_limit', args.mag_limit))
               if v is not None}
    catalog = simulate_to_dir(args.n, folder, seed=args.seed, size=args.size, bands=bands,
                              preset=args.preset, noise=args.noise, psf=args.psf,
                              neighbours=args.neighbours, jobs=args.jobs,
                              overwrite=args.overwrite, progress=not args.quiet,
                              **options)
    print(f'{len(catalog)} galaxies in {folder} (catalogue {folder / CATALOG_NAME})')
    return 0
