# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SDSS frames -> aligned multi-band galaxy stamps.

This module turns calibrated SDSS imaging frames
(``frame-<band>-<run6>-<camcol>-<field4>.fits.bz2``, as served by the SDSS
Science Archive Server and by `astroquery.sdss.SDSSClass.get_images`) into
galaxy products:

1. `read_frame` reads one frame: the sky-subtracted image in nanomaggies
   (HDU 0), its TAN WCS, and the per-pixel inverse variance rebuilt from the
   calibration vector (HDU 1), the sky grid (HDU 2) and the camera's gain and
   dark variance (`SDSS_GAIN`, `SDSS_DARK_VARIANCE`) as the SDSS frame data
   model describes::

       dn     = img / calib + sky              # counts
       dn_err = sqrt(dn / gain + darkVariance)
       err    = dn_err * calib                 # nanomaggies

2. `read_field` groups the frames of one field (run, camcol, field).
3. `find_galaxies` detects sources in the reference band (photutils
   segmentation of a PSF-matched smoothed image), measures them and labels
   each as ``galaxy`` or with the reason it was rejected (``faint``,
   ``edge``, ``star``, ``compact``, ``blended``, ``saturated``,
   ``neighbour``).
4. `cut_stamp` cuts a stamp of the reference band at native pixels and
   resamples the other bands onto the same grid through their WCS with
   `reproject.reproject_interp` (the bands of a field are observed at
   different times in drift scan, so their pixel grids are offset by up to
   ~12 pixels); the inverse variance follows the resampling exactly.
5. `extract_field` and `extract_frames_dir` write the stamps as galaxy
   products (`galsynth.products`) plus a ``catalog.ecsv``.

`measure_alignment` measures the residual misalignment of the bands after
this resampling from the centroids of stars.
"""

import bz2
import dataclasses
import gzip
import io
import json
import logging
import os
import re
import shutil
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.convolution import convolve
from astropy.io import fits
from astropy.table import QTable, Table, vstack
from astropy.wcs import WCS
from astropy.wcs.utils import pixel_to_pixel

from ..bands import PIXEL_SCALE, check_bands
from ..exceptions import DataQualityWarning
from ..products import make_galaxy, write_galaxy
from ..utils.io import atomic_write, atomic_write_bytes, check_output_dir

__all__ = [
    'FRAME_SHAPE',
    'SDSS_GAIN',
    'SDSS_DARK_VARIANCE',
    'sdss_gain',
    'sdss_dark_variance',
    'FrameID',
    'parse_frame_name',
    'frame_filename',
    'Frame',
    'open_frame_file',
    'read_frame',
    'sky_image',
    'SDSSField',
    'read_field',
    'find_fields',
    'reproject_band',
    'cut_stamp',
    'GalaxySelection',
    'STATUSES',
    'find_galaxies',
    'measure_alignment',
    'extract_field',
    'extract_frames_dir',
]

log = logging.getLogger(__name__)

#: Shape ``(ny, nx)`` of an SDSS frame image.
FRAME_SHAPE = (1489, 2048)

#: Gain [electrons/DN] per band and camera column (1-6), from the SDSS frame
#: data model. The u-band gain of camcol 2 is 1.595 before run 1100 and 1.825
#: from run 1100 on (see `sdss_gain`).
SDSS_GAIN = {
    'u': (1.62, 1.595, 1.59, 1.6, 1.47, 2.17),
    'g': (3.32, 3.855, 3.845, 3.995, 4.05, 4.035),
    'r': (4.71, 4.6, 4.72, 4.76, 4.725, 4.895),
    'i': (5.165, 6.565, 4.86, 4.885, 4.64, 4.76),
    'z': (4.745, 5.155, 4.885, 4.775, 3.48, 4.69),
}

#: Dark variance [DN**2] (read noise and dark current) per band and camera
#: column, from the SDSS frame data model, for runs before 1500; see
#: `sdss_dark_variance` for the later values.
SDSS_DARK_VARIANCE = {
    'u': (9.61, 12.6025, 8.7025, 12.6025, 9.3025, 7.0225),
    'g': (15.6025, 1.44, 1.3225, 1.96, 1.1025, 1.8225),
    'r': (1.8225, 1.00, 1.3225, 1.3225, 0.81, 0.9025),
    'i': (7.84, 5.76, 4.6225, 6.25, 7.84, 5.0625),
    'z': (0.81, 1.0, 1.0, 9.61, 1.8225, 1.21),
}

# Dark variances that changed from run 1500 on: (band, camcol) -> value.
_DARK_VARIANCE_LATE = {('i', 2): 6.25, ('i', 4): 7.5625, ('z', 4): 12.6025, ('z', 5): 2.1025}

_FRAME_RE = re.compile(r'^frame-(?P<band>[ugriz])-(?P<run>\d{6})-(?P<camcol>[1-6])-'
                       r'(?P<field>\d{4})\.fits(?:\.bz2|\.gz)?$')

_WCS_KEYS = ('CTYPE1', 'CTYPE2', 'CRPIX1', 'CRPIX2', 'CRVAL1', 'CRVAL2',
             'CD1_1', 'CD1_2', 'CD2_1', 'CD2_2')


def sdss_gain(band, camcol, run):
    """
    Gain of an SDSS imaging CCD.

    Parameters
    ----------
    band : str
        One of ``'ugriz'``.
    camcol : int
        Camera column, 1-6.
    run : int
        Run number (the u-band gain of camcol 2 changed at run 1100).

    Returns
    -------
    float
        Electrons per DN.
    """
    band, camcol = _check_band_camcol(band, camcol)
    if band == 'u' and camcol == 2 and run >= 1100:
        return 1.825
    return SDSS_GAIN[band][camcol - 1]


def sdss_dark_variance(band, camcol, run):
    """
    Dark variance (read noise and dark current) of an SDSS imaging CCD.

    Parameters
    ----------
    band : str
        One of ``'ugriz'``.
    camcol : int
        Camera column, 1-6.
    run : int
        Run number (some values changed at run 1500).

    Returns
    -------
    float
        Variance in DN**2 per pixel.
    """
    band, camcol = _check_band_camcol(band, camcol)
    if run >= 1500 and (band, camcol) in _DARK_VARIANCE_LATE:
        return _DARK_VARIANCE_LATE[band, camcol]
    return SDSS_DARK_VARIANCE[band][camcol - 1]


def _check_band_camcol(band, camcol):
    (band,) = check_bands(band)
    camcol = int(camcol)
    if not 1 <= camcol <= 6:
        msg = f'camcol must be 1-6; got {camcol}'
        raise ValueError(msg)
    return band, camcol


@dataclasses.dataclass(frozen=True, order=True)
class FrameID:
    """
    An SDSS field: run, camera column and field number.

    Parameters
    ----------
    run, camcol, field : int
    rerun : int, optional
        Processing rerun (301 for DR8 and later).
    """

    run: int
    camcol: int
    field: int
    rerun: int = 301

    @property
    def name(self):
        """``'<run6>-<camcol>-<field4>'``, e.g. ``'001035-6-0017'``."""
        return f'{self.run:06d}-{self.camcol}-{self.field:04d}'

    def __str__(self):
        return self.name


def parse_frame_name(path):
    """
    Band and field of a frame from its file name.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        ``frame-<band>-<run6>-<camcol>-<field4>.fits[.bz2|.gz]``.

    Returns
    -------
    band : str
    frame_id : `FrameID`

    Raises
    ------
    ValueError
        When the name does not follow the SDSS convention.
    """
    name = Path(path).name
    m = _FRAME_RE.match(name)
    if m is None:
        msg = (f'{path}: not an SDSS frame file name '
               '(expected frame-<band>-<run6>-<camcol>-<field4>.fits.bz2)')
        raise ValueError(msg)
    return m['band'], FrameID(int(m['run']), int(m['camcol']), int(m['field']))


def frame_filename(band, frame_id):
    """
    The SDSS file name of a frame, e.g. ``'frame-r-001035-6-0017.fits.bz2'``.

    Parameters
    ----------
    band : str
    frame_id : `FrameID`

    Returns
    -------
    str
    """
    return f'frame-{band}-{frame_id.name}.fits.bz2'


@dataclasses.dataclass
class Frame:
    """
    One SDSS frame, calibrated, with its noise model.

    Attributes
    ----------
    path : `~pathlib.Path`
    band : str
    frame_id : `FrameID`
    image : `numpy.ndarray`
        Sky-subtracted image in nanomaggies (float32); non-finite input
        pixels are set to 0.
    ivar : `numpy.ndarray`
        Inverse variance per pixel (nanomaggy**-2, float32); 0 where the
        input was not finite.
    sky_ivar : `numpy.ndarray`
        Inverse variance of the sky and read noise alone (without the
        sources' own Poisson noise): the background noise.
    saturated : `numpy.ndarray`
        Boolean mask of pixels at or above the saturation level.
    calib : `numpy.ndarray`
        Calibration vector (nanomaggies per DN of each image column).
    wcs : `~astropy.wcs.WCS`
        Celestial TAN WCS of the image.
    header : `~astropy.io.fits.Header`
        Primary header of the file.
    gain, dark_variance : float
        The CCD's gain (e-/DN) and dark variance (DN**2).
    """

    path: Path
    band: str
    frame_id: FrameID
    image: np.ndarray = dataclasses.field(repr=False)
    ivar: np.ndarray = dataclasses.field(repr=False)
    sky_ivar: np.ndarray = dataclasses.field(repr=False)
    saturated: np.ndarray = dataclasses.field(repr=False)
    calib: np.ndarray = dataclasses.field(repr=False)
    wcs: WCS = dataclasses.field(repr=False)
    header: fits.Header = dataclasses.field(repr=False)
    gain: float = 0.0
    dark_variance: float = 0.0

    @property
    def shape(self):
        """``(ny, nx)`` of the image."""
        return self.image.shape


def sky_image(allsky, xinterp, yinterp):
    """
    Interpolate the SDSS sky grid to the full frame.

    Bilinear interpolation on the grid, with positions outside the grid
    clamped to its edge (as IDL's ``interpolate(allsky, xinterp, yinterp,
    /grid)`` of the SDSS recipe does).

    Parameters
    ----------
    allsky : `numpy.ndarray`, shape ``(nsky_y, nsky_x)``
        Sky grid in DN (HDU 2 column ``ALLSKY``).
    xinterp : `numpy.ndarray`, shape ``(nx,)``
        Grid x position of every image column (``XINTERP``).
    yinterp : `numpy.ndarray`, shape ``(ny,)``
        Grid y position of every image row (``YINTERP``).

    Returns
    -------
    `numpy.ndarray`, shape ``(ny, nx)``
        Sky in DN.
    """
    allsky = np.asarray(allsky, dtype=np.float64)

    def weights(pos, n):
        pos = np.clip(np.asarray(pos, dtype=np.float64), 0.0, n - 1.0)
        i0 = np.minimum(np.floor(pos).astype(int), n - 2) if n > 1 else np.zeros(pos.shape, int)
        w = pos - i0 if n > 1 else np.zeros(pos.shape)
        return i0, np.minimum(i0 + 1, n - 1), w

    x0, x1, wx = weights(xinterp, allsky.shape[1])
    rows = allsky[:, x0] * (1.0 - wx) + allsky[:, x1] * wx          # (nsky_y, nx)
    y0, y1, wy = weights(yinterp, allsky.shape[0])
    sky = rows[y0] * (1.0 - wy)[:, None] + rows[y1] * wy[:, None]   # (ny, nx)
    return sky


def _frame_wcs(header, path):
    missing = [k for k in _WCS_KEYS if k not in header]
    if missing:
        msg = f'{path}: frame header lacks WCS keyword(s) {missing}'
        raise ValueError(msg)
    if header['CTYPE1'].strip() != 'RA---TAN' or header['CTYPE2'].strip() != 'DEC--TAN':
        msg = (f"{path}: expected a RA---TAN/DEC--TAN WCS; got "
               f"{header['CTYPE1']!r}/{header['CTYPE2']!r}")
        raise ValueError(msg)
    # Built from the WCS keywords alone (the frame header's deprecated RADECSYS
    # and DATE-OBS would make astropy emit FITSFixedWarnings).
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.cunit = ['deg', 'deg']
    w.wcs.crpix = [header['CRPIX1'], header['CRPIX2']]
    w.wcs.crval = [header['CRVAL1'], header['CRVAL2']]
    w.wcs.cd = [[header['CD1_1'], header['CD1_2']], [header['CD2_1'], header['CD2_2']]]
    w.wcs.radesys = 'ICRS'
    w.wcs.equinox = 2000.0
    w.wcs.set()
    return w


def open_frame_file(path):
    """
    Open a (possibly bzip2/gzip-compressed) FITS file, decompressing it once.

    astropy can read ``.bz2`` files directly, but it seeks back and forth in
    the compressed stream, and every backward seek in a bzip2 stream starts
    the decompression over: reading an SDSS frame that way decompresses it
    several times. Decompressing into memory first is 3-5 times faster.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    `~astropy.io.fits.HDUList`
        Use as a context manager.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith('.bz2'):
        with bz2.open(path, 'rb') as fh:
            return fits.open(io.BytesIO(fh.read()), memmap=False)
    if name.endswith('.gz'):
        with gzip.open(path, 'rb') as fh:
            return fits.open(io.BytesIO(fh.read()), memmap=False)
    return fits.open(path, memmap=False)


def read_frame(path, *, saturation=40000.0):
    """
    Read an SDSS frame and rebuild its per-pixel noise.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        A ``frame-<band>-<run6>-<camcol>-<field4>.fits.bz2`` file (or the
        same uncompressed / gzipped).
    saturation : float, optional
        Counts (DN, sky included) at or above which a pixel is taken as
        saturated. SDSS CCDs saturate near 55,000-65,000 DN and become
        non-linear before; saturated stars in these frames show plateaus of
        50,000-60,000 DN.

    Returns
    -------
    `Frame`

    Raises
    ------
    ValueError
        Naming the file: not readable as FITS (truncated, not FITS), not an
        SDSS frame (missing HDUs, wrong units or shapes), or header and file
        name that disagree on band, run, camcol or field.

    Warns
    -----
    `~galsynth.exceptions.DataQualityWarning`
        When the image has NaN/inf pixels (they get zero weight).
    """
    path = Path(path)
    band, frame_id = parse_frame_name(path)
    if not path.is_file():
        msg = f'{path}: no such file'
        raise FileNotFoundError(msg)
    try:
        with open_frame_file(path) as hdul:
            if len(hdul) < 3:
                msg = f'{path}: {len(hdul)} HDU(s); an SDSS frame has image, calib and sky HDUs'
                raise ValueError(msg)
            header = hdul[0].header.copy()
            image = np.asarray(hdul[0].data, dtype=np.float32)
            calib = np.asarray(hdul[1].data, dtype=np.float64)
            sky = hdul[2].data
            allsky = np.asarray(sky['ALLSKY'][0], dtype=np.float64)
            xinterp = np.asarray(sky['XINTERP'][0], dtype=np.float64)
            yinterp = np.asarray(sky['YINTERP'][0], dtype=np.float64)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        msg = f'{path}: not a readable SDSS frame ({exc})'
        raise ValueError(msg) from None
    except (OSError, EOFError, TypeError, KeyError, IndexError, AttributeError) as exc:
        msg = f'{path}: not a readable SDSS frame ({type(exc).__name__}: {exc})'
        raise ValueError(msg) from None

    if image.ndim != 2:
        msg = f'{path}: HDU 0 is not a 2-D image (shape {image.shape})'
        raise ValueError(msg)
    ny, nx = image.shape
    if calib.shape != (nx,) or xinterp.shape != (nx,) or yinterp.shape != (ny,):
        msg = (f'{path}: calibration vector {calib.shape} / sky interpolation '
               f'{xinterp.shape}, {yinterp.shape} do not match the image {image.shape}')
        raise ValueError(msg)
    unit = str(header.get('BUNIT', '')).strip().lower()
    if unit not in ('nanomaggy', 'nanomaggies'):
        msg = f"{path}: BUNIT={header.get('BUNIT')!r}; expected 'nanomaggy'"
        raise ValueError(msg)
    _check_header_identity(header, path, band, frame_id)
    wcs = _frame_wcs(header, path)

    bad = ~np.isfinite(image)
    if bad.any():
        warnings.warn(f'{path}: {int(bad.sum())} NaN/inf pixel(s) set to 0 with zero weight',
                      DataQualityWarning)
        image[bad] = 0.0
    if not (np.isfinite(calib).all() and (calib > 0).all()):
        msg = f'{path}: calibration vector (HDU 1) has non-positive or non-finite values'
        raise ValueError(msg)

    gain = sdss_gain(band, frame_id.camcol, frame_id.run)
    darkvar = sdss_dark_variance(band, frame_id.camcol, frame_id.run)
    sky_dn = sky_image(allsky, xinterp, yinterp)
    dn = image / calib + sky_dn
    var_dn = np.maximum(dn, 0.0) / gain + darkvar
    ivar = (1.0 / (var_dn * calib**2)).astype(np.float32)
    sky_ivar = (1.0 / ((np.maximum(sky_dn, 0.0) / gain + darkvar) * calib**2)).astype(np.float32)
    ivar[bad] = 0.0
    saturated = dn >= saturation
    return Frame(path=path, band=band, frame_id=frame_id, image=image, ivar=ivar,
                 sky_ivar=sky_ivar, saturated=saturated, calib=calib, wcs=wcs, header=header,
                 gain=gain,
                 dark_variance=darkvar)


# The camera's rows see a field in the order r, i, u, z, g, two frames apart: a
# band's header FRAME is the field number plus this offset.
_FRAME_OFFSET = {'r': 0, 'i': 2, 'u': 4, 'z': 6, 'g': 8}


def _check_header_identity(header, path, band, frame_id):
    checks = {'FILTER': band, 'RUN': frame_id.run, 'CAMCOL': frame_id.camcol,
              'FRAME': frame_id.field + _FRAME_OFFSET[band]}
    for key, expected in checks.items():
        if key not in header:
            continue
        value = header[key]
        value = value.strip() if isinstance(value, str) else int(value)
        if value != expected:
            msg = (f'{path}: header {key}={value!r} contradicts the file name '
                   f'(expected {expected!r})')
            raise ValueError(msg)


@dataclasses.dataclass
class SDSSField:
    """
    The frames of one SDSS field in several bands.

    Attributes
    ----------
    frame_id : `FrameID`
    frames : dict
        Band -> `Frame`, in the order of ``bands``.
    reference : str
        The band whose pixel grid the stamps use (``'r'`` when present).
    """

    frame_id: FrameID
    frames: dict
    reference: str

    @property
    def bands(self):
        """The bands, as a string (e.g. ``'gri'``)."""
        return ''.join(self.frames)

    @property
    def ref(self):
        """The reference `Frame`."""
        return self.frames[self.reference]


def _reference_band(bands):
    return 'r' if 'r' in bands else bands[len(bands) // 2]


def read_field(paths, *, bands=None, reference=None, saturation=40000.0):
    """
    Read the frames of one field.

    Parameters
    ----------
    paths : dict or sequence
        Band -> frame path, or a sequence of frame paths (bands from the
        file names).
    bands : str, optional
        Bands to read, in this order (default: all given, blue to red).
    reference : str, optional
        Reference band (default ``'r'`` if present, else the middle band).
    saturation : float, optional
        See `read_frame`.

    Returns
    -------
    `SDSSField`

    Raises
    ------
    ValueError
        When the frames belong to different fields, a band is missing or
        given twice, or a file is not a valid frame (naming the file).
    """
    if isinstance(paths, dict):
        items = [(str(b), Path(p)) for b, p in paths.items()]
    else:
        items = [(parse_frame_name(p)[0], Path(p)) for p in paths]
    by_band = {}
    for band, path in items:
        name_band, _ = parse_frame_name(path)
        if name_band != band:
            msg = f'{path}: file name says band {name_band!r}, given as band {band!r}'
            raise ValueError(msg)
        if band in by_band:
            msg = f'band {band!r} given twice: {by_band[band]} and {path}'
            raise ValueError(msg)
        by_band[band] = path
    ids = {parse_frame_name(p)[1] for p in by_band.values()}
    if len(ids) > 1:
        listing = ', '.join(str(p) for p in by_band.values())
        msg = f'frames of different fields mixed ({sorted(str(i) for i in ids)}): {listing}'
        raise ValueError(msg)
    if not by_band:
        msg = 'no frame given'
        raise ValueError(msg)
    bands = check_bands(bands if bands is not None else
                        ''.join(b for b in 'ugriz' if b in by_band))
    missing = [b for b in bands if b not in by_band]
    if missing:
        (fid,) = ids
        msg = (f'field {fid}: missing band(s) {"".join(missing)!r} '
               f'(expected {", ".join(frame_filename(b, fid) for b in missing)})')
        raise ValueError(msg)
    reference = reference or _reference_band(bands)
    if reference not in bands:
        msg = f'reference band {reference!r} is not among the bands {"".join(bands)!r}'
        raise ValueError(msg)
    frames = {b: read_frame(by_band[b], saturation=saturation) for b in bands}
    return SDSSField(frame_id=next(iter(ids)), frames=frames, reference=reference)


def find_fields(frames_dir, *, bands='gri'):
    """
    Find the SDSS fields that have frames in a folder (searched recursively).

    Parameters
    ----------
    frames_dir : str or `~pathlib.Path`
    bands : str, optional
        Bands every field must have.

    Returns
    -------
    dict
        `FrameID` -> {band: path}, sorted by field, for the complete fields.

    Raises
    ------
    ValueError
        When the folder holds no SDSS frame at all.
    FileNotFoundError
        When the folder does not exist.

    Warns
    -----
    `~galsynth.exceptions.DataQualityWarning`
        For each field that lacks a band (naming the missing file); the field
        is left out.
    """
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        msg = f'{frames_dir}: no such folder'
        raise FileNotFoundError(msg)
    bands = check_bands(bands)
    found = {}
    paths = [Path(d) / name for d, _, names in os.walk(frames_dir, followlinks=True)
             for name in names if _FRAME_RE.match(name)]
    for path in sorted(paths):
        band, fid = parse_frame_name(path)
        entry = found.setdefault(fid, {})
        if band in entry:
            warnings.warn(f'{path}: duplicate of {entry[band]}; using the first',
                          DataQualityWarning)
            continue
        entry[band] = path
    if not found:
        msg = (f'{frames_dir}: no SDSS frame files '
               '(frame-<band>-<run6>-<camcol>-<field4>.fits.bz2) found')
        raise ValueError(msg)
    fields = {}
    for fid in sorted(found):
        entry = found[fid]
        missing = [b for b in bands if b not in entry]
        if missing:
            where = next(iter(entry.values())).parent
            names = ', '.join(str(where / frame_filename(b, fid)) for b in missing)
            warnings.warn(f'field {fid}: missing band(s) {"".join(missing)!r} ({names}); '
                          'field skipped', DataQualityWarning)
            continue
        fields[fid] = {b: entry[b] for b in bands}
    return fields


# ----------------------------------------------------------------------------- alignment

def reproject_band(frame, wcs, shape):
    """
    Resample one frame onto another pixel grid through the WCS.

    The image is resampled with `reproject.reproject_interp` (bilinear).
    A bilinearly interpolated pixel is ``sum_k w_k x_k`` of four input
    pixels, so its variance is ``sum_k w_k**2 var_k``: the variance is
    resampled the same way and multiplied by ``[(1-fx)**2 + fx**2] *
    [(1-fy)**2 + fy**2]``, with ``fx, fy`` the fractional input pixel
    position of each output pixel.

    Parameters
    ----------
    frame : `Frame`
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the output grid.
    shape : tuple of int
        ``(ny, nx)`` of the output grid.

    Returns
    -------
    image : `numpy.ndarray`
        Resampled image (nanomaggies, float32); 0 outside the frame.
    ivar : `numpy.ndarray`
        Its inverse variance; 0 outside the frame or next to zero-weight
        pixels.
    footprint : `numpy.ndarray`
        Boolean, True where the output pixel lies inside the frame.
    """
    from reproject import reproject_interp

    image, footprint = reproject_interp((frame.image, frame.wcs), wcs, shape_out=shape,
                                        order='bilinear')
    with np.errstate(divide='ignore'):
        var_in = np.where(frame.ivar > 0, 1.0 / frame.ivar, np.inf).astype(np.float64)
    var, _ = reproject_interp((var_in, frame.wcs), wcs, shape_out=shape, order='bilinear',
                              return_footprint=True)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    xin, yin = pixel_to_pixel(wcs, frame.wcs, xx.astype(float), yy.astype(float))
    fx = xin - np.floor(xin)
    fy = yin - np.floor(yin)
    var = var * ((1 - fx)**2 + fx**2) * ((1 - fy)**2 + fy**2)
    inside = (footprint > 0) & np.isfinite(image) & np.isfinite(var) & (var > 0)
    ivar = np.zeros(shape, dtype=np.float32)
    ivar[inside] = (1.0 / var[inside]).astype(np.float32)
    image = np.where(inside, image, 0.0).astype(np.float32)
    return image, ivar, inside


def _stamp_origin(x, y, size):
    """Lower-left pixel of a ``size`` stamp centred on (x, y) (0-based)."""
    half = (size - 1) / 2.0
    return int(np.floor(x - half + 0.5)), int(np.floor(y - half + 0.5))


def cut_stamp(field, x, y, size):
    """
    Cut an aligned multi-band stamp centred on a reference-band position.

    The reference band is cut at native pixels (no resampling); the other
    bands are resampled onto the same grid with `reproject_band`. The stamp
    is placed so that (x, y) is within half a pixel of its centre
    ``((size - 1) / 2, (size - 1) / 2)``.

    Parameters
    ----------
    field : `SDSSField`
    x, y : float
        Position in the reference frame (0-based pixels).
    size : int
        Stamp side in pixels.

    Returns
    -------
    cube : `numpy.ndarray`, shape ``(n_bands, size, size)``
        Images in nanomaggies.
    ivar : `numpy.ndarray`, shape ``(n_bands, size, size)``
        Inverse variances.
    wcs : `~astropy.wcs.WCS`
        WCS of the stamp (the reference frame's, shifted).
    origin : tuple of int
        ``(x0, y0)``: reference-frame pixel of the stamp's pixel (0, 0).

    Raises
    ------
    ValueError
        When the stamp does not fit inside the reference frame.
    """
    size = int(size)
    ref = field.ref
    x0, y0 = _stamp_origin(x, y, size)
    ny, nx = ref.shape
    if x0 < 0 or y0 < 0 or x0 + size > nx or y0 + size > ny:
        msg = (f'field {field.frame_id}: a {size}x{size} stamp at ({x:.1f}, {y:.1f}) '
               f'does not fit in the {nx}x{ny} frame')
        raise ValueError(msg)
    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
    wcs = ref.wcs.deepcopy()
    wcs.wcs.crpix = [wcs.wcs.crpix[0] - x0, wcs.wcs.crpix[1] - y0]
    wcs.wcs.set()
    cube = np.empty((len(field.frames), size, size), dtype=np.float32)
    ivar = np.empty_like(cube)
    for k, (band, frame) in enumerate(field.frames.items()):
        if band == field.reference:
            cube[k] = frame.image[sl]
            ivar[k] = frame.ivar[sl]
        else:
            cube[k], ivar[k], _ = reproject_band(frame, wcs, (size, size))
    return cube, ivar, wcs, (x0, y0)


# ----------------------------------------------------------------------------- selection

@dataclasses.dataclass
class GalaxySelection:
    """
    Parameters of galaxy detection and selection (`find_galaxies`).

    Attributes
    ----------
    n_sigma : float
        Detection threshold of the smoothed detection image, in units of the
        background noise per (unsmoothed) pixel, as SExtractor's
        ``DETECT_THRESH``.
    n_pixels : int
        Minimum number of connected pixels above the threshold.
    kernel_fwhm : float
        FWHM [pixels] of the Gaussian that smooths the detection image
        (about the PSF's).
    min_sn : float
        Minimum signal-to-noise ratio of the segment flux in the reference
        band.
    size_ratio : float
        A galaxy's half-light radius must be at least ``size_ratio`` times
        the PSF's (measured from the stars of the field): resolved sources.
    min_r50 : float
        Minimum half-light radius [arcsec].
    max_concentration : float
        Maximum ``C = 5 log10(r80 / r20)``: sources more concentrated are a
        point source on an extended halo (a star on a galaxy, a saturated
        star) rather than a galaxy.
    max_blend : float
        Maximum fraction of the segment flux that deblending (photutils,
        ``deblend_contrast``) gives to components other than the galaxy.
    deblend_contrast : float
        Contrast of the photutils deblending.
    max_neighbour_ratio : float
        Reject a galaxy when another source has more than this times its
        flux inside the galaxy's stamp.
    saturation : float
        Counts (DN) taken as saturated; a galaxy whose stamp holds a
        saturated pixel in any band is rejected.
    flat_core : float
        SDSS's photo pipeline interpolates over saturated pixels, so most
        saturated stars in the frames have a flat or dipped core instead of
        high counts. A bright source whose core (within 1.5 pixels) peaks
        above ``flat_core`` DN (sky subtracted) in some band while the
        2-5 pixel annulus reaches ``flat_core_ratio`` of that peak is taken
        as saturated (an unsaturated star's annulus peaks at 0.2-0.7 of its
        core, an interpolated core at 0.8-2).
    flat_core_ratio : float
        See ``flat_core``.
    edge : int
        Sources whose segment comes within this many pixels of the frame
        border are rejected as cut by the edge.
    """

    n_sigma: float = 1.5
    n_pixels: int = 10
    kernel_fwhm: float = 3.0
    min_sn: float = 50.0
    size_ratio: float = 2.0
    min_r50: float = 1.5
    max_concentration: float = 4.0
    max_blend: float = 0.3
    deblend_contrast: float = 0.005
    max_neighbour_ratio: float = 0.5
    saturation: float = 40000.0
    flat_core: float = 1500.0
    flat_core_ratio: float = 0.8
    edge: int = 2

    def to_dict(self):
        """The parameters as a JSON-able dict."""
        return dataclasses.asdict(self)


#: Status values of `find_galaxies`, in the order the tests are applied.
STATUSES = ('faint', 'edge', 'star', 'compact', 'blended', 'saturated', 'neighbour', 'galaxy')


def _psf_r50(r50, sn, *, min_sn=100.0, default=1.8):
    """Half-light radius of the PSF: the mode of r50 among bright sources."""
    r50 = np.asarray(r50, dtype=float)
    ok = np.isfinite(r50) & (np.asarray(sn) >= min_sn) & (r50 > 0.5) & (r50 < 8.0)
    values = r50[ok]
    if values.size < 5:
        log.info('PSF size: only %d bright sources; using r50 = %.2f px', values.size, default)
        return default, values.size
    hist, edges = np.histogram(values, bins=np.arange(0.5, 8.01, 0.1))
    mode = edges[np.argmax(hist)] + 0.05
    near = values[np.abs(values - mode) < 0.3]
    return float(np.median(near)), values.size


def find_galaxies(field, *, size=64, selection=None):
    """
    Detect the sources of a field and select isolated, resolved galaxies.

    Detection runs on the reference band smoothed with a Gaussian of FWHM
    ``selection.kernel_fwhm`` (photutils `~photutils.segmentation.detect_sources`
    with a threshold of ``n_sigma`` times the background noise per pixel
    from the noise model). Each source then gets a status, the first
    failed test in this order:

    ``faint``: segment S/N < ``min_sn``. ``edge``: segment within ``edge``
    pixels of the frame border, or the ``size`` stamp would leave the frame.
    ``star``: half-light radius r50 < ``size_ratio`` x the PSF's (the PSF's
    r50 is the mode of the r50 of the bright sources, mostly stars).
    ``compact``: r50 < ``min_r50`` or concentration ``C = 5 log10(r80/r20)``
    > ``max_concentration``. ``blended``: after photutils deblending of the
    segment, components other than the main one hold more than
    ``max_blend`` of its flux, or the main component alone is not resolved.
    ``saturated``: a saturated pixel or a saturated star (flat core, see
    `GalaxySelection`) inside the stamp in any band.
    ``neighbour``: another source inside the stamp brighter than
    ``max_neighbour_ratio`` x the galaxy. ``galaxy``: passed every test.

    Parameters
    ----------
    field : `SDSSField`
    size : int, optional
        Stamp size [pixels] the galaxies must fit into.
    selection : `GalaxySelection`, optional
        Parameters (default `GalaxySelection()`).

    Returns
    -------
    `~astropy.table.QTable`
        One row per detected source with S/N >= 5: ``label``, ``x``, ``y``
        (reference-frame pixels, 0-based), ``ra``, ``dec``, ``flux_r``
        (segment flux of the reference band, nanomaggies), ``mag``,
        ``det_sn``, ``r50`` (arcsec), ``concentration``, ``blend_fraction``,
        ``neighbour_ratio``, ``saturated`` (the source itself), ``status``.
        The table's ``meta`` holds the PSF r50 (``psf_r50``, arcsec) and the
        selection.
    """
    table, _ = _find_galaxies(field, size=size, selection=selection)
    return table


def _find_galaxies(field, *, size, selection):
    """`find_galaxies`, also returning the segmentation image (or None)."""
    from photutils.segmentation import (
        SourceCatalog,
        deblend_sources,
        detect_sources,
        make_2dgaussian_kernel,
    )

    sel = selection or GalaxySelection()
    ref = field.ref
    img = ref.image
    ny, nx = img.shape
    scale = PIXEL_SCALE.to_value(u.arcsec)

    kernel_size = int(2 * np.ceil(1.5 * sel.kernel_fwhm) + 1)
    kernel = make_2dgaussian_kernel(sel.kernel_fwhm, size=kernel_size)
    conv = convolve(img, kernel, normalize_kernel=True)
    with np.errstate(divide='ignore'):
        sky_err = np.where(ref.sky_ivar > 0, 1.0 / np.sqrt(ref.sky_ivar), np.inf)
        err = np.where(ref.ivar > 0, 1.0 / np.sqrt(ref.ivar), np.inf)
    seg = detect_sources(conv, sel.n_sigma * sky_err, sel.n_pixels)
    cols = ('label', 'x', 'y', 'ra', 'dec', 'flux_r', 'mag', 'det_sn', 'r50', 'concentration',
            'blend_fraction', 'neighbour_ratio', 'saturated', 'status')
    if seg is None:
        table = QTable(names=cols, dtype=(int, float, float, float, float, float, float,
                                          float, float, float, float, float, bool, 'U9'))
        table.meta.update(psf_r50=np.nan, n_psf_stars=0, selection=sel.to_dict(),
                          field=field.frame_id.name, reference=field.reference, size=int(size))
        return table, None

    cat = SourceCatalog(img, seg, convolved_data=conv, error=np.where(np.isfinite(err), err, 0))
    flux = np.asarray(cat.segment_flux, dtype=float)
    flux_err = np.asarray(cat.segment_flux_err, dtype=float)
    with np.errstate(divide='ignore', invalid='ignore'):
        sn = np.where(flux_err > 0, flux / flux_err, 0.0)
    keep = np.flatnonzero(sn >= 5.0)
    cat = cat[keep]
    flux, sn = flux[keep], sn[keep]
    n = len(keep)
    x = np.asarray(cat.x_centroid, dtype=float)
    y = np.asarray(cat.y_centroid, dtype=float)
    # Windowed centroids (robust to neighbours and asymmetric light) for the
    # sources bright enough to be candidates.
    bright = np.flatnonzero(sn >= min(sel.min_sn, 100.0))
    if bright.size:
        sub = cat[bright]
        xw = np.asarray(sub.x_centroid_win, dtype=float)
        yw = np.asarray(sub.y_centroid_win, dtype=float)
        good = np.isfinite(xw) & np.isfinite(yw)
        x[bright[good]] = xw[good]
        y[bright[good]] = yw[good]
    status = np.full(n, '', dtype='U9')
    r50 = np.full(n, np.nan)
    conc = np.full(n, np.nan)
    blend = np.full(n, np.nan)
    neigh = np.full(n, np.nan)

    status[sn < sel.min_sn] = 'faint'
    bxmin = np.asarray(cat.bbox_xmin)
    bxmax = np.asarray(cat.bbox_xmax)
    bymin = np.asarray(cat.bbox_ymin)
    bymax = np.asarray(cat.bbox_ymax)
    x0 = np.floor(x - (size - 1) / 2 + 0.5)
    y0 = np.floor(y - (size - 1) / 2 + 0.5)
    cut = ((bxmin < sel.edge) | (bymin < sel.edge) | (bxmax > nx - 1 - sel.edge)
           | (bymax > ny - 1 - sel.edge) | (x0 < 0) | (y0 < 0) | (x0 + size > nx)
           | (y0 + size > ny))
    cut |= ~_covered(field, x0, y0, size)
    status[(status == '') & cut] = 'edge'

    # Radii for the bright sources (the PSF estimate and the candidates).
    if bright.size:
        rr = {f: np.asarray(sub.flux_radius(f), dtype=float) for f in (0.2, 0.5, 0.8)}
        r50[bright] = rr[0.5]
        with np.errstate(divide='ignore', invalid='ignore'):
            conc[bright] = 5 * np.log10(rr[0.8] / rr[0.2])
    sat_src = _saturated_sources(field, x, y, bright, sel)
    sat_any = np.zeros(n, dtype=bool)
    todo = np.flatnonzero(status == '')
    for frame in field.frames.values():
        sat_any |= _saturated_in(frame, ref, x0, y0, size, todo)
    for i in np.flatnonzero(sat_src):
        sat_any[todo] |= ((x[i] >= x0[todo] - 0.5) & (x[i] <= x0[todo] + size - 0.5)
                          & (y[i] >= y0[todo] - 0.5) & (y[i] <= y0[todo] + size - 0.5))
    psf_r50, n_psf = _psf_r50(r50, np.where(sat_src, 0.0, sn))

    todo = status == ''
    resolved = r50 >= sel.size_ratio * psf_r50
    status[todo & ~resolved] = 'star'
    todo = status == ''
    compact = (r50 * scale < sel.min_r50) | ~(conc <= sel.max_concentration)
    status[todo & compact] = 'compact'

    # Deblend the candidates' segments; keep those dominated by one component.
    cand = np.flatnonzero(status == '')
    if cand.size:
        labels = [int(cat.labels[i]) for i in cand]
        deb = deblend_sources(conv, seg, sel.n_pixels, labels=labels, n_levels=32,
                              contrast=sel.deblend_contrast, progress_bar=False)
        dcat = None
        for i, label in zip(cand, labels, strict=True):
            sl = cat[int(i)].slices
            parent = seg.data[sl] == label
            children = deb.data[sl][parent]
            child_flux = np.bincount(children, weights=img[sl][parent])
            child_ids = np.flatnonzero(child_flux)
            if child_ids.size <= 1:
                blend[i] = 0.0
                continue
            cy = int(round(y[i])) - sl[0].start
            cx = int(round(x[i])) - sl[1].start
            inside = (0 <= cy < parent.shape[0] and 0 <= cx < parent.shape[1]
                      and parent[cy, cx])
            main = deb.data[sl][cy, cx] if inside else child_ids[np.argmax(child_flux[child_ids])]
            total = child_flux[child_ids].sum()
            blend[i] = 1.0 - child_flux[main] / total if total > 0 else 1.0
            if blend[i] > sel.max_blend:
                status[i] = 'blended'
                continue
            if dcat is None:
                dcat = SourceCatalog(img, deb, convolved_data=conv,
                                     error=np.where(np.isfinite(err), err, 0))
            child_r50 = float(dcat.select_label(int(main)).flux_radius(0.5).value)
            if not child_r50 >= sel.size_ratio * psf_r50:
                status[i] = 'blended'
        blend[cand[np.isnan(blend[cand])]] = 0.0

    status[(status == '') & sat_any] = 'saturated'

    # Neighbours: the flux of the brightest other source inside the stamp.
    cand = np.flatnonzero(status == '')
    for i in cand:
        sl = (slice(int(y0[i]), int(y0[i]) + size), slice(int(x0[i]), int(x0[i]) + size))
        labels_in = seg.data[sl].ravel()
        inside = np.bincount(labels_in, weights=img[sl].ravel())
        inside[0] = 0.0
        inside[cat.labels[i]] = 0.0
        neigh[i] = inside.max() / flux[i] if flux[i] > 0 else np.inf
        if neigh[i] > sel.max_neighbour_ratio:
            status[i] = 'neighbour'
    status[status == ''] = 'galaxy'

    sky = ref.wcs.pixel_to_world_values(x, y)
    with np.errstate(divide='ignore', invalid='ignore'):
        mag = np.where(flux > 0, 22.5 - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
    table = QTable()
    table['label'] = np.asarray(cat.labels, dtype=int)
    table['x'] = x
    table['y'] = y
    table['ra'] = np.asarray(sky[0]) * u.deg
    table['dec'] = np.asarray(sky[1]) * u.deg
    table['flux_r'] = flux * u.nanomaggy
    table['mag'] = mag * u.mag
    table['det_sn'] = sn
    table['r50'] = r50 * scale * u.arcsec
    table['concentration'] = conc
    table['blend_fraction'] = blend
    table['neighbour_ratio'] = neigh
    table['saturated'] = sat_src
    table['status'] = status
    if field.reference != 'r':
        table.rename_column('flux_r', f'flux_{field.reference}')
    table.meta.update(psf_r50=psf_r50 * scale, n_psf_stars=n_psf, selection=sel.to_dict(),
                      field=field.frame_id.name, reference=field.reference, size=int(size))
    return table, seg


def _saturated_sources(field, x, y, idx, sel):
    """Flag sources ``idx`` that are saturated in some band (see `GalaxySelection`)."""
    flags = np.zeros(len(x), dtype=bool)
    if idx.size == 0:
        return flags
    h = 6
    yy, xx = np.mgrid[-h:h + 1, -h:h + 1]
    rr = np.hypot(xx, yy)
    core, ring = rr <= 1.5, (rr >= 2.0) & (rr <= 5.0)
    ref = field.ref
    for frame in field.frames.values():
        if frame is ref:
            bx, by = x[idx], y[idx]
        else:
            bx, by = pixel_to_pixel(ref.wcs, frame.wcs, x[idx], y[idx])
        ny, nx = frame.shape
        for i, xc, yc in zip(idx, np.round(bx).astype(int), np.round(by).astype(int),
                             strict=True):
            if not (h <= xc < nx - h and h <= yc < ny - h):
                continue
            sl = (slice(yc - h, yc + h + 1), slice(xc - h, xc + h + 1))
            dn = frame.image[sl] / frame.calib[sl[1]]
            peak = dn[core].max()
            if (frame.saturated[sl].any()
                    or (peak >= sel.flat_core and dn[ring].max() >= sel.flat_core_ratio * peak)):
                flags[i] = True
    return flags


def _saturated_in(frame, ref, x0, y0, size, idx):
    """Whether the ``size`` stamps at (x0, y0) of sources ``idx`` hold a saturated pixel."""
    out = np.zeros(len(x0), dtype=bool)
    if idx.size == 0 or not frame.saturated.any():
        return out
    ys, xs = np.nonzero(frame.saturated)
    if frame is not ref:
        xs, ys = pixel_to_pixel(frame.wcs, ref.wcs, xs.astype(float), ys.astype(float))
    for i in idx:
        hit = ((xs >= x0[i] - 0.5) & (xs <= x0[i] + size - 0.5)
               & (ys >= y0[i] - 0.5) & (ys <= y0[i] + size - 0.5))
        out[i] = bool(hit.any())
    return out


def _covered(field, x0, y0, size):
    """Whether every band's frame covers the ``size`` stamps at (x0, y0)."""
    ref = field.ref
    ok = np.ones(len(x0), dtype=bool)
    cx = np.concatenate([x0, x0 + size - 1, x0, x0 + size - 1])
    cy = np.concatenate([y0, y0, y0 + size - 1, y0 + size - 1])
    for frame in field.frames.values():
        if frame is ref:
            continue
        bx, by = pixel_to_pixel(ref.wcs, frame.wcs, cx.astype(float), cy.astype(float))
        ny, nx = frame.shape
        inside = (bx >= 0) & (bx <= nx - 1) & (by >= 0) & (by <= ny - 1)
        ok &= inside.reshape(4, -1).all(axis=0)
    return ok


# ----------------------------------------------------------------------------- alignment check

def measure_alignment(field, *, min_sn=100.0, box=21, max_stars=60, selection=None):
    """
    Measure the residual misalignment of the bands from star centroids.

    Bright, unsaturated, isolated point sources of the field (status
    ``star`` in `find_galaxies`, no other detection in the ``box``) are cut
    with `cut_stamp` (the other bands resampled onto the reference grid, as
    for the galaxy stamps) and centred in every band with a 2-D Gaussian fit
    (`photutils.centroids.centroid_2dg`) within 6 pixels of the star. The
    offsets of each band from the reference band are the residual
    misalignment (plus the small true offsets of differential chromatic
    refraction). Stars with a fit more than 1 pixel off in some band (a
    companion of another colour) are left out.

    Parameters
    ----------
    field : `SDSSField`
    min_sn : float, optional
        Minimum detection S/N of the stars used.
    box : int, optional
        Side of the stamp the centroid is fitted in [pixels].
    max_stars : int, optional
        Use at most this many stars (the brightest).
    selection : `GalaxySelection`, optional
        Detection parameters.

    Returns
    -------
    `~astropy.table.QTable`
        One row per star: ``label``, ``x``, ``y``, ``det_sn``, and for each
        band ``dx_<band>``, ``dy_<band>`` [pixels] from the reference band.
        ``meta`` holds, per band, ``median_dx_<band>``, ``median_dy_<band>``,
        ``rms_<band>`` (robust RMS of the 2-D offset, 1.4826 x MAD per axis
        in quadrature) and ``grid_offset_<band>`` (the median offset between
        the band's and the reference band's raw pixel grids, i.e. the
        misalignment without WCS resampling).
    """
    from photutils.centroids import centroid_2dg

    table, seg = _find_galaxies(field, size=box, selection=selection)
    stars = table[(table['status'] == 'star') & (table['det_sn'] >= min_sn)
                  & ~table['saturated']]
    ref = field.ref
    x0 = np.floor(np.asarray(stars['x']) - (box - 1) / 2 + 0.5).astype(int)
    y0 = np.floor(np.asarray(stars['y']) - (box - 1) / 2 + 0.5).astype(int)
    bad = np.zeros(len(stars), dtype=bool)
    for frame in field.frames.values():
        bad |= _saturated_in(frame, ref, x0, y0, box, np.arange(len(stars)))
    for k, label in enumerate(stars['label']):   # isolated: no other source in the box
        labels = np.unique(seg.data[y0[k]:y0[k] + box, x0[k]:x0[k] + box])
        bad[k] |= bool(np.setdiff1d(labels, [0, label]).size)
    stars = stars[~bad]
    stars = stars[np.argsort(-np.asarray(stars['det_sn']))][:max_stars]
    bands = list(field.frames)
    out = QTable()
    out['label'] = np.asarray(stars['label'], dtype=int)
    out['x'] = np.asarray(stars['x'])
    out['y'] = np.asarray(stars['y'])
    out['det_sn'] = np.asarray(stars['det_sn'])
    offsets = {b: np.full((len(stars), 2), np.nan) for b in bands}
    yy, xx = np.mgrid[0:box, 0:box]
    for k, row in enumerate(stars):
        cube, ivar, _, (sx0, sy0) = cut_stamp(field, row['x'], row['y'], box)
        cen = {}
        for b, img, iv in zip(bands, cube, ivar, strict=True):
            if not (iv > 0).all():
                break
            # Fit within 6 pixels of the star; neighbours further out are masked.
            mask = (xx - (row['x'] - sx0))**2 + (yy - (row['y'] - sy0))**2 > 36.0
            cen[b] = centroid_2dg(img - np.median(img[mask]), mask=mask)
        else:
            d = {b: cen[b] - cen[field.reference] for b in bands}
            # A fit more than 1 pixel off is a companion of another colour, not
            # misalignment: the star is left out.
            if all(np.hypot(*v) <= 1.0 for v in d.values()):
                for b in bands:
                    offsets[b][k] = d[b]
    used = np.isfinite(offsets[field.reference]).all(axis=1)
    out = out[used]
    offsets = {b: v[used] for b, v in offsets.items()}
    meta = {'reference': field.reference, 'n_stars': int(used.sum()),
            'field': field.frame_id.name}
    cx = np.array([ref.shape[1] / 2.0])
    cy = np.array([ref.shape[0] / 2.0])
    for b in bands:
        if b == field.reference:
            continue
        out[f'dx_{b}'] = offsets[b][:, 0]
        out[f'dy_{b}'] = offsets[b][:, 1]
        good = np.isfinite(offsets[b]).all(axis=1)
        d = offsets[b][good]
        med = np.median(d, axis=0) if len(d) else np.array([np.nan, np.nan])
        mad = 1.4826 * np.median(np.abs(d - med), axis=0) if len(d) else med
        meta[f'median_dx_{b}'] = float(med[0])
        meta[f'median_dy_{b}'] = float(med[1])
        meta[f'rms_{b}'] = float(np.hypot(*mad))
        bx, by = pixel_to_pixel(ref.wcs, field.frames[b].wcs, cx, cy)
        meta[f'grid_offset_{b}'] = (float(bx[0] - cx[0]), float(by[0] - cy[0]))
    out.meta.update(meta)
    return out


# ----------------------------------------------------------------------------- extraction

def extract_field(field, *, size=64, selection=None, date=None):
    """
    Cut the selected galaxies of a field as galaxy products.

    Parameters
    ----------
    field : `SDSSField`
    size : int, optional
        Stamp side [pixels], e.g. 64, 128 or 256.
    selection : `GalaxySelection`, optional
        Detection and selection parameters.
    date : str, optional
        Creation date written into the products (default: now).

    Returns
    -------
    hduls : list of `~astropy.io.fits.HDUList`
        One galaxy product per selected galaxy: a band HDU per band in
        nanomaggies with the stamp's WCS, an ``IVAR_<BAND>`` HDU per band, a
        ``TRUTH`` table (the catalogue row) and the provenance cards ``RUN``,
        ``RERUN``, ``CAMCOL``, ``FIELD``, ``REFBAND``, ``SRC_X``, ``SRC_Y``
        (source position in the reference frame, 0-based pixels),
        ``STAMPX0``, ``STAMPY0``, ``DET_SN``, ``R50``, ``PSF_R50``.
    catalog : `~astropy.table.QTable`
        One row per product (same order), with ``name`` (file name the
        product gets), the `find_galaxies` columns and the segment flux of
        each band in the stamp (``flux_<band>``, nanomaggies).
    """
    sel = selection or GalaxySelection()
    size = int(size)
    if size < 8:
        msg = f'stamp size must be >= 8 pixels; got {size}'
        raise ValueError(msg)
    table, seg = _find_galaxies(field, size=size, selection=sel)
    gal = table[table['status'] == 'galaxy']
    fid = field.frame_id
    bands = field.bands
    ref = field.reference
    psf_r50 = table.meta['psf_r50']
    hduls = []
    rows = []
    for row in gal:
        cube, ivar, wcs, (x0, y0) = cut_stamp(field, row['x'], row['y'], size)
        footprint = seg.data[y0:y0 + size, x0:x0 + size] == row['label']
        fluxes = {f'flux_{b}': float(cube[k][footprint].sum()) for k, b in enumerate(bands)}
        name = f'sdss-{fid.name}-{int(row["label"]):04d}.fits'
        truth = {
            'name': name, 'field_id': fid.name, 'run': fid.run, 'rerun': fid.rerun,
            'camcol': fid.camcol, 'field': fid.field, 'label': int(row['label']),
            'ra': float(row['ra'].to_value(u.deg)), 'dec': float(row['dec'].to_value(u.deg)),
            'x': float(row['x']), 'y': float(row['y']),
            **fluxes,
            'mag_' + ref: float(row['mag'].to_value(u.mag)),
            'det_sn': float(row['det_sn']), 'r50': float(row['r50'].to_value(u.arcsec)),
            'concentration': float(row['concentration']),
            'blend_fraction': float(row['blend_fraction']),
            'neighbour_ratio': float(row['neighbour_ratio']), 'psf_r50': float(psf_r50),
        }
        history = [
            'SDSS frames: ' + ', '.join(f.path.name for f in field.frames.values()),
            'noise: ivar = 1/((dn/gain + darkVariance) calib**2), dn = img/calib + sky '
            '(HDU1 calib, HDU2 sky grid; SDSS frame data model)',
            f'aligned: {",".join(b for b in bands if b != ref)} resampled onto the '
            f'{ref}-band pixel grid through the WCS (reproject_interp, bilinear); '
            f'{ref} at native pixels',
            f'stamp: {size}x{size} at ({x0}, {y0}) of the {ref} frame, centred on '
            f'source {int(row["label"])} (windowed centroid)',
            'selection: galsynth.data.frames.find_galaxies '
            + ' '.join(f'{k}={v}' for k, v in sel.to_dict().items()),
        ]
        extra = {
            'RUN': (fid.run, 'SDSS run'), 'RERUN': (fid.rerun, 'SDSS rerun'),
            'CAMCOL': (fid.camcol, 'SDSS camera column'), 'FIELD': (fid.field, 'SDSS field'),
            'REFBAND': (ref, 'band whose pixel grid the stamp keeps'),
            'SRC_X': (float(row['x']), f'source x in the {ref} frame (0-based pixels)'),
            'SRC_Y': (float(row['y']), f'source y in the {ref} frame (0-based pixels)'),
            'STAMPX0': (int(x0), f'{ref}-frame x of stamp pixel 0 (0-based)'),
            'STAMPY0': (int(y0), f'{ref}-frame y of stamp pixel 0 (0-based)'),
            'DET_SN': (float(row['det_sn']), f'detection S/N (segment flux, {ref} band)'),
            'R50': (float(row['r50'].to_value(u.arcsec)), '[arcsec] half-light radius'),
            'PSF_R50': (float(psf_r50), '[arcsec] half-light radius of the PSF'),
        }
        hdul = make_galaxy(cube, bands=bands, wcs=wcs, ivar=ivar, generator='sdss',
                           truth=truth, history=history, extra_header=extra, date=date)
        hduls.append(hdul)
        rows.append(truth)
    catalog = _catalog_table(rows, bands, ref)
    catalog.meta.update({k: v for k, v in table.meta.items() if k != 'selection'})
    catalog.meta['selection'] = sel.to_dict()
    catalog.meta['n_detected'] = len(table)
    catalog.meta['status_counts'] = {s: int((table['status'] == s).sum()) for s in STATUSES}
    return hduls, catalog


_CATALOG_UNITS = {'ra': u.deg, 'dec': u.deg, 'r50': u.arcsec, 'psf_r50': u.arcsec}


def _catalog_table(rows, bands, ref):
    names = (['name', 'field_id', 'run', 'rerun', 'camcol', 'field', 'label', 'ra', 'dec',
              'x', 'y'] + [f'flux_{b}' for b in bands]
             + [f'mag_{ref}', 'det_sn', 'r50', 'concentration', 'blend_fraction',
                'neighbour_ratio', 'psf_r50'])
    dtypes = (['U40', 'U13', int, int, int, int, int] + [float] * (len(names) - 7))
    table = QTable(rows=[[r[n] for n in names] for r in rows] or None, names=names,
                   dtype=dtypes)
    for name in names:
        if name in _CATALOG_UNITS:
            table[name] = table[name] * _CATALOG_UNITS[name] if table[name].unit is None \
                else table[name]
        elif name.startswith('flux_'):
            table[name] = u.Quantity(table[name], u.nanomaggy)
        elif name.startswith('mag_'):
            table[name] = u.Quantity(table[name], u.mag)
    return table


_SETTINGS_FILE = 'extract.json'
_FIELD_CATALOG = 'field.ecsv'


def extract_frames_dir(frames_dir, output_dir, *, size=64, bands='gri', selection=None,
                       overwrite=False, strict=False, progress=False, date=None):
    """
    Extract galaxy stamps from every SDSS field in a folder; resumable.

    Each field's products go to ``output_dir/<run6>-<camcol>-<field4>/``;
    a field is written into a hidden temporary folder that is renamed when
    complete, so an interrupted run leaves no half-written field and a new
    run resumes with the fields still missing. ``catalog.ecsv`` (all
    products) and ``extract.json`` (the settings) are written at the top.

    Parameters
    ----------
    frames_dir : str or `~pathlib.Path`
        Folder searched recursively for ``frame-*.fits.bz2`` files.
    output_dir : str or `~pathlib.Path`
        Output folder (created if needed).
    size : int, optional
        Stamp side in pixels.
    bands : str, optional
        Bands of the stamps (fields lacking one are skipped with a warning).
    selection : `GalaxySelection`, optional
        Detection and selection parameters.
    overwrite : bool, optional
        Re-extract the fields already present (default: keep them, resume).
    strict : bool, optional
        Raise on the first unreadable field instead of warning and skipping it.
    progress : bool, optional
        Show a progress bar over the fields.
    date : str, optional
        Creation date written into the products (default: now).

    Returns
    -------
    `~astropy.table.QTable`
        The catalogue of all products (also written as ``catalog.ecsv``),
        with a ``file`` column (path relative to ``output_dir``) and
        ``meta['fields']``: per field, the number of galaxies, or the reason
        it was skipped.

    Raises
    ------
    ValueError
        When the folder has no frames or no field with all the bands, or
        ``output_dir`` holds an extraction with other settings (and
        ``overwrite`` is False).
    """
    from tqdm.auto import tqdm

    sel = selection or GalaxySelection()
    bands = ''.join(check_bands(bands))
    size = int(size)
    fields = find_fields(frames_dir, bands=bands)
    if not fields:
        msg = f'{frames_dir}: no field has frames in all the bands {bands!r}'
        raise ValueError(msg)
    out = check_output_dir(output_dir)
    settings = {'size': size, 'bands': bands, 'selection': sel.to_dict()}
    settings_path = out / _SETTINGS_FILE
    if settings_path.exists():
        previous = json.loads(settings_path.read_text())
        if previous != settings and not overwrite:
            msg = (f'{out} holds an extraction with other settings ({settings_path}: '
                   f'{previous}); use another folder or overwrite=True')
            raise ValueError(msg)
    atomic_write_bytes(settings_path, json.dumps(settings, indent=1), overwrite=True)

    catalogs = []
    report = {}
    for fid, paths in tqdm(fields.items(), desc='fields', unit='field', disable=not progress):
        dest = out / fid.name
        done = dest / _FIELD_CATALOG
        if done.exists() and not overwrite:
            cat = QTable.read(done, format='ascii.ecsv')
            log.info('%s: already extracted (%d galaxies), skipped', fid, len(cat))
        else:
            try:
                field = read_field(paths, bands=bands)
                hduls, cat = extract_field(field, size=size, selection=sel, date=date)
            except ValueError as exc:
                if strict:
                    raise
                warnings.warn(f'field {fid} skipped: {exc}', DataQualityWarning)
                report[fid.name] = f'skipped: {exc}'
                continue
            _write_field(out, fid, hduls, cat)
            log.info('%s: %d galaxies', fid, len(cat))
        report[fid.name] = len(cat)
        cat['file'] = np.array([f'{fid.name}/{name}' for name in cat['name']], dtype='U80')
        catalogs.append(cat)
    if catalogs:
        catalog = vstack([QTable(c) for c in catalogs], metadata_conflicts='silent')
    else:
        catalog = _catalog_table([], bands, 'r')
        catalog['file'] = np.array([], dtype='U80')
    catalog.meta.clear()
    catalog.meta.update(settings)
    catalog.meta['fields'] = report
    with atomic_write(out / 'catalog.ecsv', overwrite=True, mode='path') as tmp:
        catalog.write(tmp, format='ascii.ecsv', overwrite=True)
    return catalog


def _write_field(out, fid, hduls, cat):
    dest = out / fid.name
    partial = out / f'.{fid.name}.partial'
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        for hdul, name in zip(hduls, cat['name'], strict=True):
            write_galaxy(hdul, partial / name)
        with atomic_write(partial / _FIELD_CATALOG, mode='path') as tmp:
            Table(cat).write(tmp, format='ascii.ecsv', overwrite=True)
        if dest.exists():
            if not (dest / _FIELD_CATALOG).exists() and any(dest.iterdir()):
                msg = f'{dest} exists and is not a galsynth field folder; not replaced'
                raise FileExistsError(msg)
            shutil.rmtree(dest)
        partial.rename(dest)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
