# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth extract``: cut galaxy stamps from SDSS frames.

``galsynth extract FRAMES_DIR -o DIR --size 64 --bands gri`` finds every
field with frames in all the bands under FRAMES_DIR, detects and selects
isolated resolved galaxies, and writes one galaxy product per galaxy under
``DIR/<run6>-<camcol>-<field4>/`` plus ``DIR/catalog.ecsv``. Fields already
extracted are skipped, so an interrupted run resumes
(`galsynth.data.frames.extract_frames_dir`).
"""

import logging
import warnings

from . import CommandError, positive_int

__all__ = ['add_parser', 'run']

log = logging.getLogger(__name__)


def add_parser(subparsers):
    p = subparsers.add_parser(
        'extract', help='cut galaxy stamps (FITS products) from SDSS frames',
        description='Detect and select isolated, resolved galaxies in SDSS frames '
                    '(frame-<band>-<run6>-<camcol>-<field4>.fits.bz2, searched recursively) '
                    'and write aligned multi-band stamps with inverse variance as galaxy '
                    'products, plus catalog.ecsv. Resumable: fields already in the output '
                    'folder are skipped.')
    p.add_argument('frames_dir', metavar='FRAMES_DIR', help='folder with SDSS frame files')
    p.add_argument('-o', '--output', required=True, help='output folder')
    p.add_argument('--size', type=positive_int, default=64,
                   help='stamp side in pixels (default 64; e.g. 128, 256)')
    p.add_argument('--bands', default='gri', help="bands of the stamps (default 'gri')")
    p.add_argument('--min-sn', type=float, default=None,
                   help='minimum detection S/N (default 50)')
    p.add_argument('--size-ratio', type=float, default=None,
                   help='minimum half-light radius in units of the PSF half-light radius '
                        '(default 2)')
    p.add_argument('--min-r50', type=float, default=None,
                   help='minimum half-light radius in arcsec (default 1.5)')
    p.add_argument('--max-blend', type=float, default=None,
                   help='maximum flux fraction of other deblended components (default 0.3)')
    p.add_argument('--max-neighbour', type=float, default=None,
                   help='maximum flux of another source in the stamp, in units of the '
                        "galaxy's (default 0.5)")
    p.add_argument('--overwrite', action='store_true',
                   help='re-extract fields already present (default: skip them and resume)')
    p.add_argument('--strict', action='store_true',
                   help='stop at the first unreadable field (default: warn and skip it)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)
    return p


def run(args):
    from ..data.frames import GalaxySelection, extract_frames_dir

    options = {'min_sn': args.min_sn, 'size_ratio': args.size_ratio, 'min_r50': args.min_r50,
               'max_blend': args.max_blend, 'max_neighbour_ratio': args.max_neighbour}
    selection = GalaxySelection(**{k: v for k, v in options.items() if v is not None})
    if args.size < 8:
        raise CommandError(f'--size must be >= 8; got {args.size}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            catalog = extract_frames_dir(args.frames_dir, args.output, size=args.size,
                                         bands=args.bands, selection=selection,
                                         overwrite=args.overwrite, strict=args.strict,
                                         progress=not args.no_progress)
        finally:
            _report(caught)
    fields = catalog.meta['fields']
    for name, result in fields.items():
        print(f'{name}: {result if isinstance(result, str) else f"{result} galaxies"}')
    n_ok = sum(1 for r in fields.values() if not isinstance(r, str))
    print(f'{len(catalog)} galaxies from {n_ok} field(s) -> {args.output}/catalog.ecsv')
    if n_ok == 0:
        raise CommandError(f'no field of {args.frames_dir} could be extracted')
    return 0


def _report(caught):
    """Log galsynth's data warnings in one line each; show any other warning as usual."""
    from ..exceptions import GalsynthWarning

    for w in caught:
        if issubclass(w.category, GalsynthWarning):
            log.warning('%s', w.message)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
