# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth fetch-sdss``: query SDSS for galaxies and download their frames.

``galsynth fetch-sdss -o DIR --z-max 0.05 --min-radius 20 --limit 50`` runs
`galsynth.data.sdss.query_galaxies`, writes the result to
``DIR/galaxies.ecsv``, then downloads the g, r, i frames of their fields
into ``DIR/frames/`` with `galsynth.data.sdss.download_frames` (cached,
retried, verified, resumable). ``galsynth extract DIR/frames -o stamps``
then cuts the stamps.
"""

import logging
import warnings
from pathlib import Path

from astropy.table import QTable

from . import CommandError, positive_int

__all__ = ['add_parser', 'run']

log = logging.getLogger(__name__)


def add_parser(subparsers):
    p = subparsers.add_parser(
        'fetch-sdss', help='query SDSS for large nearby galaxies and download their frames',
        description='Query the SDSS catalogue (PhotoObj joined with SpecObj, via astroquery) '
                    'for galaxies with z_min < z < z_max and r-band Petrosian radius > '
                    'min_radius, write DIR/galaxies.ecsv, and download the imaging frames of '
                    'their fields into DIR/frames/ (resumable: files already downloaded and '
                    'verified are kept). Needs network access.')
    p.add_argument('-o', '--output', required=True, type=Path, help='output folder')
    p.add_argument('--z-max', type=float, default=0.05, help='maximum redshift (default 0.05)')
    p.add_argument('--z-min', type=float, default=0.0, help='minimum redshift (default 0)')
    p.add_argument('--min-radius', type=float, default=20.0,
                   help='minimum r-band Petrosian radius in arcsec (default 20)')
    p.add_argument('--limit', type=positive_int, default=100,
                   help='maximum number of galaxies (default 100)')
    p.add_argument('--bands', default='gri', help="bands to download (default 'gri')")
    p.add_argument('--data-release', type=positive_int, default=17,
                   help='SDSS data release (default 17)')
    p.add_argument('--table', type=Path, default=None,
                   help='use this table (run, camcol, field columns; any astropy-readable '
                        'format) instead of querying')
    p.add_argument('--query-only', action='store_true',
                   help='write galaxies.ecsv and stop (no frame download)')
    p.add_argument('--requery', action='store_true',
                   help='query again even if DIR/galaxies.ecsv exists (default: reuse it)')
    p.add_argument('--retries', type=int, default=3,
                   help='retries per file after a failed attempt (default 3)')
    p.add_argument('--timeout', type=float, default=60.0,
                   help='seconds to wait for the server (default 60)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)
    return p


def run(args):
    from ..data.sdss import download_frames, query_galaxies
    from ..utils.io import atomic_write, check_output_dir

    if args.retries < 0:
        raise CommandError(f'--retries must be >= 0; got {args.retries}')
    out = check_output_dir(args.output)
    galaxies = out / 'galaxies.ecsv'
    if args.table is not None:
        if not args.table.is_file():
            raise CommandError(f'{args.table}: no such file')
        table = QTable.read(args.table)
        print(f'{len(table)} rows from {args.table}')
    elif galaxies.exists() and not args.requery:
        table = QTable.read(galaxies, format='ascii.ecsv')
        print(f'{len(table)} galaxies from {galaxies} (use --requery to query again)')
    else:
        table = query_galaxies(z_max=args.z_max, z_min=args.z_min,
                               min_radius=args.min_radius, limit=args.limit,
                               data_release=args.data_release, timeout=args.timeout)
        with atomic_write(galaxies, overwrite=True, mode='path') as tmp:
            table.write(tmp, format='ascii.ecsv', overwrite=True)
        print(f'{len(table)} galaxies -> {galaxies}')
    if args.query_only or len(table) == 0:
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            files = download_frames(table, bands=args.bands, cache_dir=out / 'frames',
                                    data_release=args.data_release, retries=args.retries,
                                    timeout=args.timeout, progress=not args.no_progress)
        finally:
            _report(caught)
    counts = {s: int((files['status'] == s).sum()) for s in ('downloaded', 'cached', 'failed')}
    n_fields = len(set(files['field_id']))
    print(f'{n_fields} field(s): {counts["downloaded"]} frames downloaded, '
          f'{counts["cached"]} already there, {counts["failed"]} failed -> {out / "frames"}')
    return 1 if counts['failed'] else 0


def _report(caught):
    """Log galsynth's data warnings in one line each; show any other warning as usual."""
    from ..exceptions import GalsynthWarning

    for w in caught:
        if issubclass(w.category, GalsynthWarning):
            log.warning('%s', w.message)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
