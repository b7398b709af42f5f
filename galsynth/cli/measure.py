# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth measure``: photometry and morphology of a folder of galaxy products.

``galsynth measure DIR -o table.ecsv`` measures every FITS product in
``DIR`` with `galsynth.photometry.measure` and writes one row per file
(the ``file`` column holds the path).
"""

import logging
import warnings
from pathlib import Path

from astropy.utils.exceptions import AstropyUserWarning

from . import CommandError, positive_int

__all__ = ['add_parser', 'run', 'find_products']

log = logging.getLogger(__name__)

#: File name patterns of galaxy products.
PATTERNS = ('*.fits', '*.fits.gz', '*.fit', '*.fts')

#: Output formats by file suffix.
FORMATS = {'.ecsv': 'ascii.ecsv', '.fits': 'fits', '.csv': 'ascii.csv'}


def add_parser(subparsers):
    p = subparsers.add_parser(
        'measure', help='measure magnitudes, colours, sizes and morphology of galaxy products',
        description='Measure the central galaxy of every FITS product in DIR (photutils '
                    'pipeline: sky, detection, deblending, dilated-segment and Kron fluxes, '
                    'radii, statmorph morphology) and write one table row per file.')
    p.add_argument('input', nargs='+', type=Path, metavar='DIR',
                   help='folder(s) of galaxy products (*.fits, *.fits.gz, *.fit) or files')
    p.add_argument('-o', '--output', required=True, type=Path,
                   help='output table: .ecsv (recommended), .fits (units kept for astropy '
                        "readers; 'nmgy' is not a FITS standard unit) or .csv (no units)")
    p.add_argument('--jobs', '-j', type=positive_int, default=1,
                   help='worker processes (default 1)')
    p.add_argument('--no-morphology', action='store_true',
                   help='skip statmorph (Gini, M20, asymmetry, Sersic fit): ~10x faster')
    p.add_argument('--detection-band', default='r',
                   help="band for detection, apertures and morphology (default 'r')")
    p.add_argument('--bands', default=None,
                   help="bands to measure, e.g. 'gri' (default: those of the first file)")
    p.add_argument('--background', choices=('flat', '2d', 'none'), default='flat',
                   help="sky model: sigma-clipped constant (default), Background2D map, "
                        "or 'none' for sky-subtracted images")
    p.add_argument('--psf-fwhm', type=float, default=None,
                   help='PSF FWHM in arcsec (default: from the files, else 1.4)')
    p.add_argument('--recursive', '-r', action='store_true',
                   help='also search sub-folders')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output table')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)
    return p


def find_products(paths, *, recursive=False):
    """
    The product files named by ``paths`` (files, or folders searched for FITS files).

    Parameters
    ----------
    paths : sequence of path
    recursive : bool, optional
        Search sub-folders too.

    Returns
    -------
    list of `~pathlib.Path`
        Sorted within each folder, without duplicates.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    """
    found = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            msg = f'{path}: no such file or folder'
            raise FileNotFoundError(msg)
        if path.is_file():
            found.append(path)
            continue
        files = set()
        for pattern in PATTERNS:
            files.update(path.rglob(pattern) if recursive else path.glob(pattern))
        found.extend(sorted(f for f in files if f.is_file()))
    return list(dict.fromkeys(found))


def run(args):
    from ..photometry import measure
    from ..utils.io import atomic_write

    out = Path(args.output)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise CommandError(f'{out}: unknown table format {out.suffix!r}; use one of '
                           f'{", ".join(FORMATS)}')
    if out.exists() and not args.overwrite:
        raise FileExistsError(f'{out}: file exists; use --overwrite to replace it')
    files = [f for f in find_products(args.input, recursive=args.recursive)
             if f.resolve() != out.resolve()]
    if not files:
        names = ', '.join(str(p) for p in args.input)
        raise CommandError(f'no FITS files ({", ".join(PATTERNS)}) in {names}')
    table = measure(files, detection_band=args.detection_band, bands=args.bands,
                    morphology=not args.no_morphology, jobs=args.jobs,
                    progress=not args.no_progress, background=args.background,
                    psf_fwhm=args.psf_fwhm)
    table.meta['comments'] = [f'galsynth measure: {len(files)} products, detection band '
                              f'{args.detection_band}, background {args.background}']
    with atomic_write(out, overwrite=args.overwrite, mode='path') as tmp, \
            warnings.catch_warnings():
        # FITS has no 'nmgy' unit: astropy keeps it for astropy readers and says so
        warnings.filterwarnings('ignore', message=".*could not be saved in native FITS",
                                category=AstropyUserWarning)
        table.write(tmp, format=fmt, overwrite=True)
    flagged = int((table['flags'] != 0).sum())
    print(f'measured {len(table)} products ({flagged} flagged) -> {out}')
    log.info('wrote %s', out)
    return 0
