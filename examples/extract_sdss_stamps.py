# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Galaxy stamps from SDSS frames
==============================

Extract the isolated, resolved galaxies of the seven shared SDSS fields
(``../shared/data/sdss_frames``: g, r, i frames) as 64 x 64 galaxy products
with `galsynth.data.frames.extract_frames_dir`, print how many each field
gives, and save a Lupton RGB grid of all of them (i, r, g as red, green,
blue) to ``docs/_static/sdss_stamps.png``.

Run from the repository root::

    python examples/extract_sdss_stamps.py [--stamps DIR] [--frames DIR]

``--stamps`` keeps the products in DIR (default: a temporary folder); an
existing DIR from an earlier run is reused (the extraction resumes).
"""

import argparse
import os
import tempfile
from pathlib import Path

from galsynth.data.frames import extract_frames_dir
from galsynth.products import read_galaxy
from galsynth.visualization import rgb_grid

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / 'docs' / '_static' / 'sdss_stamps.png'
FRAMES = Path(os.environ.get('GALSYNTH_SHARED_DATA', ROOT.parent / 'shared' / 'data')) \
    / 'sdss_frames'


def main(frames=FRAMES, stamps=None, output=OUTPUT):
    from PIL import Image

    from galsynth.utils.io import atomic_write

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(stamps) if stamps else Path(tmp)
        catalog = extract_frames_dir(frames, out, size=64, bands='gri', progress=True)
        for field, n in catalog.meta['fields'].items():
            print(f'{field}: {n} galaxies')
        print(f'total: {len(catalog)} galaxies')
        hduls = [read_galaxy(out / f) for f in catalog['file']]
        # minimum: about the sky noise, shown black (and a smaller PNG).
        grid = rgb_grid(hduls, ncols=10, pad=2, stretch=0.3, Q=8, minimum=0.02)
    with atomic_write(output, overwrite=True) as fh:
        Image.fromarray(grid).save(fh, format='png', optimize=True)
    print(f'wrote {output}')
    return output


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', default=FRAMES, type=Path, help='SDSS frames folder')
    parser.add_argument('--stamps', default=None, type=Path, help='keep the products here')
    args = parser.parse_args()
    main(args.frames, args.stamps)
