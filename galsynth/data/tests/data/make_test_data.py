# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Re-create the small SDSS frames shipped for the tests (not run by the tests).

Each shipped frame is a cut-out of a public SDSS DR17 frame
(``../shared/data/sdss_frames``) that keeps the file's structure: HDU 0 is a
rectangle of the image with ``CRPIX`` shifted to match; HDU 1 the matching
part of the calibration vector; HDU 2 the part of the sky grid those pixels
interpolate from, with ``XINTERP``/``YINTERP`` shifted to it (so the sky
image, hence the noise model, is the same as the full frame's over the
cut-out); HDU 3 unchanged. The cut-outs of the bands of a field cover the
same sky (their pixel grids are offset in drift scan), plus a margin.

Usage::

    python make_test_data.py [SHARED_DATA_DIR]
"""

import bz2
import io
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs.utils import pixel_to_pixel

from galsynth.data.frames import FrameID, frame_filename, read_frame

#: (field, reference-band rectangle x0, x1, y0, y1): a region with two galaxies
#: and a few stars, and a piece of the dense star field.
CUTS = {
    FrameID(1992, 1, 87): (1560, 1880, 380, 680),
    FrameID(5405, 6, 99): (800, 1056, 600, 856),
}
MARGIN = 16


def cut_frame(src, dst, x0, x1, y0, y1):
    """Write the [y0:y1, x0:x1] part of frame ``src`` as ``dst`` (bzip2)."""
    with bz2.open(src, 'rb') as fh:
        hdul = fits.open(io.BytesIO(fh.read()), memmap=False)
    ny, nx = hdul[0].data.shape
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, nx), min(y1, ny)
    primary = fits.PrimaryHDU(hdul[0].data[y0:y1, x0:x1].copy(), header=hdul[0].header.copy())
    primary.header['CRPIX1'] = hdul[0].header['CRPIX1'] - x0
    primary.header['CRPIX2'] = hdul[0].header['CRPIX2'] - y0
    primary.header.add_history(f'galsynth test data: rows {y0}:{y1}, columns {x0}:{x1} of the '
                               'SDSS frame; sky grid cut to match')
    calib = fits.ImageHDU(hdul[1].data[x0:x1].copy(), header=hdul[1].header.copy())
    sky = hdul[2].data
    allsky = sky['ALLSKY'][0]
    xi = sky['XINTERP'][0][x0:x1]
    yi = sky['YINTERP'][0][y0:y1]
    gx0 = int(max(np.floor(xi.min()), 0))
    gx1 = int(min(np.ceil(xi.max()) + 1, allsky.shape[1]))
    gy0 = int(max(np.floor(yi.min()), 0))
    gy1 = int(min(np.ceil(yi.max()) + 1, allsky.shape[0]))
    part = allsky[gy0:gy1, gx0:gx1]
    cols = fits.ColDefs([
        fits.Column(name='ALLSKY', format=f'{part.size}E', dim=f'({part.shape[1]}, '
                    f'{part.shape[0]})', array=part[None]),
        fits.Column(name='XINTERP', format=f'{xi.size}E', array=(xi - gx0)[None]),
        fits.Column(name='YINTERP', format=f'{yi.size}E', array=(yi - gy0)[None]),
    ])
    skyhdu = fits.BinTableHDU.from_columns(cols)
    out = fits.HDUList([primary, calib, skyhdu, hdul[3].copy()])
    buf = io.BytesIO()
    out.writeto(buf)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bz2.compress(buf.getvalue(), 9))


def main(shared):
    here = Path(__file__).parent / 'frames'
    for fid, (x0, x1, y0, y1) in CUTS.items():
        folder = Path(shared) / 'sdss_frames' / fid.name
        ref = read_frame(folder / frame_filename('r', fid))
        for band in 'gri':
            src = folder / frame_filename(band, fid)
            if band == 'r':
                box = (x0, x1, y0, y1)
            else:
                frame = read_frame(src)
                xs, ys = pixel_to_pixel(ref.wcs, frame.wcs, np.array([x0, x1, x0, x1], float),
                                        np.array([y0, y0, y1, y1], float))
                box = (int(np.floor(xs.min())) - MARGIN, int(np.ceil(xs.max())) + MARGIN,
                       int(np.floor(ys.min())) - MARGIN, int(np.ceil(ys.max())) + MARGIN)
            dst = here / fid.name / frame_filename(band, fid)
            cut_frame(src, dst, *box)
            print(dst, dst.stat().st_size)


if __name__ == '__main__':
    default = Path(__file__).resolve().parents[5] / 'shared' / 'data'
    main(sys.argv[1] if len(sys.argv) > 1 else default)
