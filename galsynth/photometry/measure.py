# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Photometry of galaxy products with photutils: a ProFound replacement.

`measure` runs, on every image of a list of galaxy products, one pipeline:

1. **Sky**: per band, the sigma-clipped median and RMS of the pixels outside
   the (dilated) detected sources (``background='flat'``, default), a
   `photutils.background.Background2D` map (``'2d'``), or no subtraction for
   images already sky-subtracted (``'none'``, RMS only).
2. **Detection and deblending** in the detection band (``r`` by default): the
   sky-subtracted image smoothed with a Gaussian of the PSF's FWHM,
   thresholded at ``nsigma`` times its own RMS (`photutils.segmentation.
   detect_sources`), and the segment of the central source deblended
   (`photutils.segmentation.deblend_sources`).
3. **Central source**: the significant segment (S/N >= ``min_snr``) that
   covers the image centre, else the significant segment whose centroid is
   nearest to the centre.
4. **Total fluxes** per band, in the same pixels for every band (so colours
   are aperture-matched): the ProFound-like *dilated segment* flux (the
   central segment grown in steps of ``dilation_step`` pixels, never into
   other significant sources, until the flux added by a step is below
   ``dilation_tol`` of the total or below its own 1-sigma noise) and the
   Kron flux (photutils, Kron apertures from the detection band). Errors come
   from the product's ``IVAR_<BAND>`` HDUs where present, else from the sky
   RMS. Magnitudes use each band HDU's ``MAGZP``.
5. **Structure** (detection band): growth-curve R50/R90 (circular and
   elliptical), concentration, ellipticity and orientation; with
   ``morphology=True`` also statmorph's Gini, M20, asymmetry and a
   PSF-convolved Sérsic fit.

Problems never raise: the row is flagged (`PhotometryFlag`), values that
cannot be measured are NaN, and a `~galsynth.exceptions.PhotometryWarning`
(or `~galsynth.exceptions.NoDetectionWarning`) names the file and the
problem. `COLUMNS` documents every output column.
"""

import dataclasses
import enum
import logging
import math
import os
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable
from scipy import ndimage

from ..bands import BANDS, PIXEL_SCALE, ZEROPOINT, check_bands, nanomaggy
from ..exceptions import NoDetectionWarning, PhotometryWarning
from ..products import galaxy_bands
from ..utils.parallel import parallel_map
from .morphology import (
    DEFAULT_MOFFAT_BETA,
    flux_radii,
    psf_correction_factor,
    psf_image,
    sersic_circular_r50,
    statmorph_morphology,
)

__all__ = [
    'PhotometryFlag',
    'NoCentralSourceWarning',
    'COLUMNS',
    'DEFAULT_PSF_FWHM',
    'measure',
    'column_names',
]

log = logging.getLogger(__name__)

#: PSF FWHM assumed when neither the caller nor the product gives one: the median
#: r-band seeing of SDSS imaging (about 1.4 arcsec).
DEFAULT_PSF_FWHM = 1.4 * u.arcsec

#: Header cards (band HDU, then PRIMARY) read as the PSF FWHM in arcsec.
PSF_FWHM_KEYWORDS = ('PSF_FWHM', 'PSFFWHM', 'SEEING')


class NoCentralSourceWarning(NoDetectionWarning, PhotometryWarning):
    """
    No central galaxy was found in a product (its row is NaN and flagged).

    Both a `~galsynth.exceptions.NoDetectionWarning` and a
    `~galsynth.exceptions.PhotometryWarning`, so that filtering either class
    covers it.
    """


class PhotometryFlag(enum.IntFlag):
    """
    Bits of the ``flags`` column.

    A row with any of ``NO_DETECTION``, ``BAD_INPUT`` holds NaN for every
    measurement; the other bits qualify values that were measured.
    """

    #: The central source's segment touches the image border (galaxy cut off).
    EDGE = 1
    #: The central source was deblended from one or more neighbours, or another
    #: source's segment touches its own.
    BLENDED = 2
    #: No significant source in the detection band (all-zero or empty image,
    #: NaN detection band); every measurement is NaN.
    NO_DETECTION = 4
    #: A band HDU has no ``MAGZP`` card (and no ``zeropoint`` was given): its
    #: fluxes and magnitudes are NaN.
    NO_ZEROPOINT = 8
    #: A requested band is missing from the product or has no finite pixel: its
    #: columns are NaN.
    BAD_BAND = 16
    #: Pixels inside the total-flux region are NaN or have zero inverse variance
    #: in some band; they are left out, so fluxes may be underestimated.
    MASKED_PIXELS = 32
    #: The chosen source's centroid is farther than ``max_offset`` from the centre.
    OFF_CENTER = 64
    #: The total-flux region or the Kron aperture reaches the image border.
    TRUNCATED = 128
    #: statmorph flagged the morphology (flag >= 2) or the Sérsic fit (flag >= 2),
    #: or failed.
    MORPHOLOGY = 256
    #: The file could not be read as a galaxy product; every value is NaN.
    BAD_INPUT = 512


#: Flags that deserve a warning (bad input rather than a property of the galaxy).
_WARN_FLAGS = (PhotometryFlag.EDGE | PhotometryFlag.NO_DETECTION | PhotometryFlag.NO_ZEROPOINT
               | PhotometryFlag.BAD_BAND | PhotometryFlag.BAD_INPUT)

#: Rings judged together by the growth of the total-flux region.
_DILATION_WINDOW = 3
#: Width of a growth ring relative to the equivalent radius sqrt(area / pi) of the
#: central segment (at least ``dilation_step`` pixels).
_DILATION_STEP_FRACTION = 0.3
#: A growth ring window must hold this many sigma of flux for the region to keep growing.
_DILATION_NSIGMA = 2.0
#: The sky is re-measured outside the total-flux region only when at least this
#: fraction of the image is left.
_MIN_SKY_FRACTION = 0.25

#: Output columns: name pattern -> (unit, description). ``{b}`` is a band letter.
COLUMNS = {
    'file': (None, 'path of the product file (measured from paths only)'),
    'x': (u.pix, 'x centroid of the central source, 0-based pixels (detection band, '
                 'photutils SourceCatalog centroid of the segment)'),
    'y': (u.pix, 'y centroid of the central source, 0-based pixels'),
    'ra': (u.deg, 'right ascension of the centroid (band WCS)'),
    'dec': (u.deg, 'declination of the centroid (band WCS)'),
    'redshift': (None, "redshift from the product's REDSHIFT card (NaN when unknown)"),
    'psf_fwhm': (u.arcsec, 'PSF FWHM used for detection smoothing and the Sérsic fit '
                           '(argument, header card, or the SDSS default 1.4 arcsec)'),
    'flux_{b}': (nanomaggy, 'total flux: ProFound-like dilated-segment (curve-of-growth) '
                            'flux; the detection-band segment grown until the flux converges, '
                            'the same pixels in every band'),
    'flux_err_{b}': (nanomaggy, '1-sigma error of flux_{b} (IVAR HDU, else sky RMS)'),
    'mag_{b}': (u.mag, 'AB magnitude of flux_{b} (NaN for non-positive flux)'),
    'mag_err_{b}': (u.mag, '1-sigma error of mag_{b}, 1.0857 flux_err/flux'),
    'flux_kron_{b}': (nanomaggy, 'Kron flux (photutils, 2.5 Kron radii, minimum 1.4; '
                                 'apertures from the detection band)'),
    'flux_kron_err_{b}': (nanomaggy, '1-sigma error of flux_kron_{b}'),
    'mag_kron_{b}': (u.mag, 'AB magnitude of flux_kron_{b}'),
    'mag_kron_err_{b}': (u.mag, '1-sigma error of mag_kron_{b}'),
    'sky_{b}': (nanomaggy, 'sky level subtracted, per pixel (median of the sky map)'),
    'sky_rms_{b}': (nanomaggy, 'sky noise RMS per pixel'),
    'color_{b1}_{b2}': (u.mag, 'colour mag_{b1} - mag_{b2} (aperture-matched total fluxes)'),
    'r50': (u.arcsec, 'radius of the circle (centred on the centroid) holding 50% of the '
                      'total detection-band flux; observed, PSF-convolved; non-parametric '
                      'growth curve'),
    'r90': (u.arcsec, 'radius of the circle holding 90% of the total flux (as r50)'),
    'r50_ellip': (u.arcsec, 'semi-major axis of the ellipse (ellipticity, orientation) '
                            'holding 50% of the total flux'),
    'r90_ellip': (u.arcsec, 'semi-major axis of the ellipse holding 90% of the total flux'),
    'concentration': (None, 'C = 5 log10(r80 / r20) of the circular growth curve '
                            '(Bershady et al. 2000; Conselice 2003)'),
    'ellipticity': (None, '1 - b/a from the second moments of the central segment '
                          '(photutils SourceCatalog, smoothed detection image)'),
    'orientation': (u.deg, 'angle of the major axis, counter-clockwise from the +x pixel '
                           'axis (photutils convention), in (-90, 90]'),
    'r50_psfcorr': (u.arcsec, 'PSF-corrected r50: r50 times the ratio of the circular '
                              'half-light radii of the fitted Sérsic model without and with '
                              'the PSF, both within the total-flux region (the definition '
                              "of the simulator's true r50)"),
    'gini': (None, 'Gini coefficient of the pixel fluxes in the Gini segmap '
                   '(Lotz et al. 2004; statmorph)'),
    'm20': (None, 'M20, log10 of the second moment of the brightest 20% of the light '
                  'relative to the total (Lotz et al. 2004; statmorph)'),
    'asymmetry': (None, 'CAS rotational asymmetry, background-corrected, about the '
                        'asymmetry-minimizing centre (Conselice 2000; statmorph)'),
    'sersic_n': (None, 'Sérsic index of a single Sérsic fit convolved with the PSF '
                       '(statmorph, Moffat PSF of FWHM psf_fwhm)'),
    'sersic_r50': (u.arcsec, 'radius of the circle holding half the light of the fitted '
                             'Sérsic model before the PSF (intrinsic, PSF-corrected)'),
    'sersic_r50_ellip': (u.arcsec, 'half-light semi-major axis of the fitted Sérsic model '
                                   '(intrinsic, PSF-corrected)'),
    'sersic_ellipticity': (None, '1 - b/a of the Sérsic fit'),
    'morph_flag': (None, "statmorph's flag (0 good, 1 suspect, 2 bad, 4 failed; -1 not run)"),
    'flags': (None, 'PhotometryFlag bits, 0 for a clean measurement: '
                    + ', '.join(f'{f.value} {f.name}' for f in PhotometryFlag)),
}

_MORPHOLOGY_COLUMNS = ('r50_psfcorr', 'gini', 'm20', 'asymmetry', 'sersic_n', 'sersic_r50',
                       'sersic_r50_ellip', 'sersic_ellipticity', 'morph_flag')


def _colour_pairs(bands):
    """Adjacent colours (in BANDS order) of the measured bands."""
    ordered = [b for b in BANDS if b in bands]
    return list(zip(ordered[:-1], ordered[1:], strict=True))


def column_names(bands='gri', *, morphology=True, with_file=False):
    """
    The column names `measure` returns, in order.

    Parameters
    ----------
    bands : str or sequence of str, optional
        Measured bands.
    morphology : bool, optional
        Include the statmorph columns.
    with_file : bool, optional
        Include ``file`` (products given as paths).

    Returns
    -------
    list of str
    """
    bands = check_bands(bands)
    names = ['file'] if with_file else []
    names += ['x', 'y', 'ra', 'dec', 'redshift', 'psf_fwhm']
    for pattern in ('flux_{b}', 'flux_err_{b}', 'mag_{b}', 'mag_err_{b}',
                    'flux_kron_{b}', 'flux_kron_err_{b}', 'mag_kron_{b}', 'mag_kron_err_{b}',
                    'sky_{b}', 'sky_rms_{b}'):
        names += [pattern.format(b=b) for b in bands]
    names += [f'color_{b1}_{b2}' for b1, b2 in _colour_pairs(bands)]
    names += ['r50', 'r90', 'r50_ellip', 'r90_ellip', 'concentration', 'ellipticity',
              'orientation']
    if morphology:
        names += list(_MORPHOLOGY_COLUMNS)
    names.append('flags')
    return names


def _column_doc(name):
    """(unit, description) of a concrete column name."""
    if name in COLUMNS:
        return COLUMNS[name]
    if name.startswith('color_'):
        b1, b2 = name.split('_')[1:]
        unit, text = COLUMNS['color_{b1}_{b2}']
        return unit, text.format(b1=b1, b2=b2)
    band = name[-1]
    unit, text = COLUMNS[name[:-1] + '{b}']
    return unit, text.format(b=band)


@dataclasses.dataclass(frozen=True)
class _Options:
    detection_band: str
    bands: tuple | None
    morphology: bool
    background: str
    box_size: int
    nsigma: float
    npixels: int
    deblend: bool
    deblend_contrast: float
    min_snr: float
    max_offset: float | None
    psf_fwhm: float | None
    zeropoint: float | None
    dilation_step: float
    dilation_tol: float
    max_dilations: int


@dataclasses.dataclass
class _Band:
    """One band of one product, in image units, with what is known about it."""

    data: np.ndarray | None = None
    good: np.ndarray | None = None   # finite pixels with positive (or no) inverse variance
    ivar: np.ndarray | None = None
    calib: float = math.nan          # image units -> nanomaggy
    header: fits.Header | None = None
    sky: np.ndarray | float = 0.0
    rms: float = math.nan
    sky_err: float = 0.0             # uncertainty of the sky level per pixel
    var: np.ndarray | float | None = None


# --------------------------------------------------------------------------- helpers


def _robust_stats(values, *, max_samples=20000):
    """
    Median and RMS after a 3-sigma clip about the median (MAD start).

    At most ``max_samples`` values (an even stride through the array) are used.
    """
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size > max_samples:
        values = values[::int(math.ceil(values.size / max_samples))]
    med = float(np.median(values))
    std = 1.4826 * float(np.median(np.abs(values - med)))
    if std > 0:
        keep = values[np.abs(values - med) < 3.0 * std]
        if keep.size >= 10:
            med = float(np.median(keep))
            std = float(np.std(keep))
    return med, std


def _touches_border(mask):
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _header_float(header, keys):
    for key in keys:
        if header is not None and key in header:
            try:
                value = float(header[key])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value) and value > 0:
                return value
    return None


def _pixel_scale(hdul, header):
    """Pixel scale in arcsec from the band WCS, else PIXSCALE, else SDSS."""
    from astropy.wcs import WCS, FITSFixedWarning
    from astropy.wcs.utils import proj_plane_pixel_scales

    wcs = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FITSFixedWarning)
            wcs = WCS(header)
        if wcs.has_celestial:
            scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
            if np.all(np.isfinite(scales)) and np.all(scales > 0):
                return float(np.sqrt(scales[0] * scales[1])), wcs
    except Exception:  # noqa: BLE001 - any broken WCS falls back to the header card
        wcs = None
    scale = _header_float(hdul[0].header, ('PIXSCALE',))
    return (scale if scale is not None else PIXEL_SCALE.to_value(u.arcsec)), None


def _psf_fwhm(hdul, header, band, options):
    """PSF FWHM in arcsec: argument, band card, TRUTH column, PRIMARY card, default."""
    if options.psf_fwhm is not None:
        return options.psf_fwhm
    value = _header_float(header, PSF_FWHM_KEYWORDS)
    if value is None and 'TRUTH' in hdul and hasattr(hdul['TRUTH'], 'columns'):
        names = hdul['TRUTH'].columns.names
        for key in (f'psf_fwhm_{band}', 'psf_fwhm', 'PSF_FWHM'):
            if key in names:
                try:
                    v = float(hdul['TRUTH'].data[key][0])
                except (TypeError, ValueError, IndexError):
                    continue
                if math.isfinite(v) and v > 0:
                    value = v
                    break
    if value is None:
        value = _header_float(hdul[0].header, PSF_FWHM_KEYWORDS)
    if value is None:
        # a PSF half-light radius (galsynth's SDSS stamps), converted for a Moffat PSF
        r50 = _header_float(header, ('PSF_R50',))
        if r50 is None:
            r50 = _header_float(hdul[0].header, ('PSF_R50',))
        if r50 is not None:
            value = r50 / _moffat_r50_over_fwhm(DEFAULT_MOFFAT_BETA)
    return value if value is not None else DEFAULT_PSF_FWHM.to_value(u.arcsec)


def _moffat_r50_over_fwhm(beta):
    """Half-light radius / FWHM of a Moffat profile of index ``beta``."""
    return math.sqrt(2.0 ** (1.0 / (beta - 1.0)) - 1.0) / (
        2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _load_band(hdul, band, options, flags, problems, name):
    out = _Band()
    key = band.upper()
    if key not in hdul or hdul[key].data is None or np.ndim(hdul[key].data) != 2:
        flags |= PhotometryFlag.BAD_BAND
        problems.append((PhotometryWarning, f'{name}: band {key} is missing'))
        return out, flags
    hdu = hdul[key]
    data = np.asarray(hdu.data, dtype=np.float64)
    out.header = hdu.header
    good = np.isfinite(data)
    if not good.any():
        flags |= PhotometryFlag.BAD_BAND
        problems.append((PhotometryWarning, f'{name}: band {key} has no finite pixel'))
        return out, flags
    ivar_name = f'IVAR_{key}'
    if ivar_name in hdul and hdul[ivar_name].data is not None:
        ivar = np.asarray(hdul[ivar_name].data, dtype=np.float64)
        if ivar.shape == data.shape:
            out.ivar = np.where(np.isfinite(ivar), ivar, 0.0)
            good &= out.ivar > 0
    out.data = data
    out.good = good
    zp = _header_float(hdu.header, ('MAGZP',))
    if zp is None and 'MAGZP' in hdu.header:
        try:
            zp = float(hdu.header['MAGZP'])
        except (TypeError, ValueError):
            zp = None
    if zp is None:
        zp = options.zeropoint
    if zp is None or not math.isfinite(zp):
        flags |= PhotometryFlag.NO_ZEROPOINT
        problems.append((PhotometryWarning,
                         f'{name}: band {key} has no MAGZP zero point; its fluxes and '
                         'magnitudes are NaN'))
    else:
        out.calib = 10.0 ** (-0.4 * (zp - ZEROPOINT))
    return out, flags


def _sky(band, source_mask, options):
    """Set band.sky (scalar or map), band.rms and band.var."""
    data, good = band.data, band.good
    use = good if source_mask is None else good & ~source_mask
    if use.sum() < 20:
        use = good
    med, std = _robust_stats(data[use])
    n_sky = int(use.sum())
    # standard error of a median, 1.25 sigma / sqrt(n)
    band.sky_err = 1.2533 * std / math.sqrt(n_sky) if n_sky > 0 else 0.0
    if options.background == 'none':
        band.sky, band.rms = 0.0, std
        band.sky_err = 0.0
    elif options.background == '2d':
        from photutils.background import Background2D, MedianBackground

        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                bkg = Background2D(np.where(good, data, 0.0), options.box_size,
                                   mask=~use, filter_size=3,
                                   bkg_estimator=MedianBackground())
            band.sky = np.asarray(bkg.background, dtype=np.float64)
            band.rms = float(np.median(bkg.background_rms))
        except (ValueError, RuntimeError):
            band.sky, band.rms = med, std
    else:
        band.sky, band.rms = med, std
    if band.ivar is not None:
        with np.errstate(divide='ignore'):
            band.var = np.where(band.ivar > 0, 1.0 / np.where(band.ivar > 0, band.ivar, 1.0),
                                np.inf)
    else:
        band.var = band.rms**2


def _var_array(band, shape):
    return np.broadcast_to(np.asarray(band.var, dtype=np.float64), shape)


def _segment_stats(sub, var, segm, labels):
    flux = np.asarray(ndimage.sum_labels(sub, segm, labels), dtype=float)
    noise = np.sqrt(np.asarray(ndimage.sum_labels(var, segm, labels), dtype=float))
    with np.errstate(divide='ignore', invalid='ignore'):
        snr = np.where(noise > 0, flux / noise, np.where(flux > 0, np.inf, 0.0))
    return flux, snr


def _choose_central(segm, labels, snr, sub, options):
    """Label of the central source, or None."""
    ny, nx = segm.shape
    significant = {int(lab) for lab, s in zip(labels, snr, strict=True) if s >= options.min_snr}
    if not significant:
        return None, math.nan
    yc, xc = (ny - 1) / 2.0, (nx - 1) / 2.0
    ys = sorted({int(math.floor(yc)), int(math.ceil(yc))})
    xs = sorted({int(math.floor(xc)), int(math.ceil(xc))})
    at_center = {int(segm[y, x]) for y in ys for x in xs} & significant
    positive = np.clip(sub, 0.0, None)
    cands = sorted(significant)
    centers = ndimage.center_of_mass(positive, segm, cands)
    dist = {lab: math.hypot(cx - xc, cy - yc) for lab, (cy, cx) in zip(cands, centers,
                                                                       strict=True)}
    pool = at_center if at_center else significant
    best = min(pool, key=lambda lab: dist[lab])
    return best, dist[best]


def _mirror_fill(sub, var, replace, source_ok, center):
    """
    Copies of ``sub`` and ``var`` with the ``replace`` pixels set to their mirror image.

    The mirror of pixel ``p`` through the centre ``c`` is ``2 c - p`` (a galaxy
    is close to point-symmetric); where that pixel is outside the image or not
    ``source_ok`` the value is zero. photutils' ``SourceCatalog`` treats
    neighbours in Kron apertures the same way (``apermask_method='correct'``).
    """
    sub = sub.copy()
    var = var.copy()
    ys, xs = np.nonzero(replace)
    if ys.size == 0:
        return sub, var
    ny, nx = sub.shape
    my = np.rint(2.0 * center[1] - ys).astype(np.int64)
    mx = np.rint(2.0 * center[0] - xs).astype(np.int64)
    usable = (my >= 0) & (my < ny) & (mx >= 0) & (mx < nx)
    usable[usable] = source_ok[my[usable], mx[usable]]
    sub[ys, xs] = 0.0
    var[ys, xs] = 0.0
    sub[ys[usable], xs[usable]] = sub[my[usable], mx[usable]]
    var[ys[usable], xs[usable]] = var[my[usable], mx[usable]]
    return sub, var


def _dilate(sub, var, region, options):
    """
    Grow ``region`` in rings until the flux converges.

    Rings are shells of Euclidean distance from the segment (one distance
    transform) of width ``max(dilation_step, 0.3 sqrt(area / pi))`` pixels,
    so that their number does not depend on the galaxy's size. Growth stops
    at the first ring ``k`` for which the flux of rings ``k .. k + 2``
    together is below ``3 * dilation_tol`` times the flux so far or below
    twice its own noise (ring ``k`` is kept). Returns the grown region and the
    number of rings.
    """
    dist = ndimage.distance_transform_edt(~region)
    # Rings scale with the galaxy, so that the stopping rule does not depend on its size.
    step = max(options.dilation_step,
               _DILATION_STEP_FRACTION * math.sqrt(region.sum() / math.pi))
    nmax = options.max_dilations
    ring = np.ceil(dist / step).astype(np.int64)  # 0 inside the region, k in the k-th ring
    use = ring <= nmax
    idx = ring[use]
    ring_flux = np.bincount(idx, weights=sub[use], minlength=nmax + 1)
    ring_var = np.bincount(idx, weights=var[use], minlength=nmax + 1)
    ring_npix = np.bincount(idx, minlength=nmax + 1)
    flux = float(ring_flux[0])
    window = _DILATION_WINDOW
    n_rings = 0
    for k in range(1, nmax + 1):
        if ring_npix[k] == 0:
            break
        n_rings = k
        # the next `window` rings together: a single ring fluctuating low must not stop it
        w_flux = float(ring_flux[k:k + window].sum())
        w_noise = math.sqrt(float(ring_var[k:k + window].sum()))
        if w_flux <= max(window * options.dilation_tol * abs(flux), _DILATION_NSIGMA * w_noise):
            break
        flux += ring_flux[k]
    return ring <= n_rings, n_rings


# --------------------------------------------------------------------------- one image


def _nan_row(names):
    row = dict.fromkeys(names, math.nan)
    if 'morph_flag' in row:
        row['morph_flag'] = -1
    row['flags'] = 0
    return row


def _open(item):
    if isinstance(item, fits.HDUList):
        return item
    path = Path(item)
    with fits.open(path, memmap=False) as hdul:
        return fits.HDUList([h.copy() for h in hdul])


def _measure_item(args):
    """Worker: measure one product. Returns (row dict, [(warning class, message)])."""
    item, name, options, names = args
    row = _nan_row(names)
    problems = []
    if 'file' in row:
        row['file'] = '' if isinstance(item, fits.HDUList) else str(item)
    try:
        hdul = _open(item)
        if not galaxy_bands(hdul):
            msg = 'no band image HDU'
            raise ValueError(msg)
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        row['flags'] = int(PhotometryFlag.BAD_INPUT)
        problems.append((PhotometryWarning, f'{name}: not a readable galaxy product ({exc})'))
        return row, problems
    try:
        flags = _measure_product(hdul, name, options, row, problems)
    except Exception as exc:
        # A bug or a pathological image must not stop a run over thousands of files.
        log.exception('%s: photometry failed', name)
        keep_file = row.get('file')
        row.update(_nan_row(names))
        if keep_file is not None:
            row['file'] = keep_file
        flags = PhotometryFlag.BAD_INPUT
        problems.append((PhotometryWarning,
                         f'{name}: photometry failed ({type(exc).__name__}: {exc})'))
    row['flags'] = int(flags)
    return row, problems


def _measure_product(hdul, name, options, row, problems):
    flags = PhotometryFlag(0)
    bands = options.bands if options.bands is not None else galaxy_bands(hdul)
    det_name = options.detection_band
    redshift = _header_float(hdul[0].header, ('REDSHIFT',))
    row['redshift'] = redshift if redshift is not None else math.nan

    loaded = {}
    for band in dict.fromkeys((*bands, det_name)):
        loaded[band], flags = _load_band(hdul, band, options, flags, problems, name)
    det = loaded[det_name]
    if det.data is None:
        flags |= PhotometryFlag.NO_DETECTION
        problems.append((NoCentralSourceWarning,
                         f'{name}: detection band {det_name.upper()} is unusable'))
        return flags
    shape = det.data.shape
    for band in bands:
        if loaded[band].data is not None and loaded[band].data.shape != shape:
            flags |= PhotometryFlag.BAD_BAND
            problems.append((PhotometryWarning,
                             f'{name}: band {band.upper()} has shape '
                             f'{loaded[band].data.shape}, the detection band {shape}'))
            loaded[band] = _Band()

    scale, wcs = _pixel_scale(hdul, det.header)
    fwhm_arcsec = _psf_fwhm(hdul, det.header, det_name, options)
    fwhm_pix = fwhm_arcsec / scale
    row['psf_fwhm'] = fwhm_arcsec
    smooth_sigma = max(fwhm_pix, 1.0) / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    # --- sky (first pass) and detection image
    _sky(det, None, options)
    sub, conv = _smooth(det, smooth_sigma)
    segm = _detect(conv, det.good, options)
    source_mask = None
    if segm is not None:
        # second pass: sky without the (dilated) sources, then detect again
        source_mask = ndimage.distance_transform_edt(segm.data == 0) <= 2.0 * fwhm_pix
        old_sky = det.sky
        _sky(det, source_mask, options)
        if np.ndim(old_sky) == 0 and np.ndim(det.sky) == 0:
            shift = float(det.sky) - float(old_sky)
            sub = np.where(det.good, sub - shift, 0.0)
            conv = conv - shift
        else:
            sub, conv = _smooth(det, smooth_sigma)
        segm = _detect(conv, det.good, options)

    def other_bands_sky(mask):
        for band in bands:
            if band != det_name and loaded[band].data is not None:
                _sky(loaded[band], mask, options)
        for band in bands:
            b = loaded[band]
            if b.data is not None and math.isfinite(b.calib):
                row[f'sky_{band}'] = float(np.median(b.sky)) * b.calib
                row[f'sky_rms_{band}'] = b.rms * b.calib

    other_bands_sky(source_mask)
    if segm is None:
        flags |= PhotometryFlag.NO_DETECTION
        problems.append((NoCentralSourceWarning, f'{name}: no source detected in band '
                                             f'{det_name.upper()}'))
        return flags

    var_det = _var_array(det, shape)
    var_det = np.where(det.good, var_det, 0.0)
    labels = segm.labels
    _, snr = _segment_stats(sub, var_det, segm.data, labels)
    parent, _ = _choose_central(segm.data, labels, snr, sub, options)
    if parent is None:
        flags |= PhotometryFlag.NO_DETECTION
        problems.append((NoCentralSourceWarning, f'{name}: no significant source (S/N >= '
                                             f'{options.min_snr}) in band {det_name.upper()}'))
        return flags

    # --- deblend the central source only
    n_children = 1
    if options.deblend:
        segm, n_children = _deblend(conv, segm, parent, options, problems, name)
        labels = segm.labels
        _, snr = _segment_stats(sub, var_det, segm.data, labels)
    label, offset = _choose_central(segm.data, labels, snr, sub, options)
    if label is None:
        flags |= PhotometryFlag.NO_DETECTION
        problems.append((NoCentralSourceWarning, f'{name}: no significant source in band '
                                             f'{det_name.upper()} after deblending'))
        return flags
    if n_children > 1:
        flags |= PhotometryFlag.BLENDED
    max_offset = (options.max_offset if options.max_offset is not None
                  else 0.1 * min(shape))
    if offset > max_offset:
        flags |= PhotometryFlag.OFF_CENTER

    central = segm.data == label
    if _touches_border(central):
        flags |= PhotometryFlag.EDGE
        problems.append((PhotometryWarning,
                         f'{name}: the central galaxy touches the image edge; its fluxes '
                         'are lower limits'))
    significant = {int(lab) for lab, s in zip(labels, snr, strict=True)
                   if s >= options.min_snr}
    blocked = np.isin(segm.data, sorted(significant - {label}))

    # --- detection catalogue: centroid, shape, Kron apertures
    det_cat = _photutils_catalog(sub, segm, conv, var_det, det.good, label, name)
    xc = float(det_cat.x_centroid)
    yc = float(det_cat.y_centroid)
    row['x'], row['y'] = xc, yc
    if wcs is not None and wcs.has_celestial:
        try:
            ra, dec = wcs.celestial.pixel_to_world_values(xc, yc)
            row['ra'], row['dec'] = float(ra), float(dec)
        except Exception:  # noqa: BLE001 - a broken WCS only loses ra/dec
            pass
    ellipticity = float(det_cat.ellipticity)
    orientation = float(det_cat.orientation.to_value(u.deg))
    row['ellipticity'] = ellipticity
    row['orientation'] = orientation
    kron_ap = det_cat.kron_aperture
    if kron_ap is not None and _aperture_leaves_image(kron_ap, shape):
        flags |= PhotometryFlag.TRUNCATED

    # --- total-flux region: the segment grown until the flux converges, with the
    # pixels of other sources and bad pixels replaced by their mirror image
    det_sub, det_var = _mirror_fill(sub, var_det, blocked | ~det.good, det.good & ~blocked,
                                    (xc, yc))
    region, _ = _dilate(det_sub, det_var, central, options)
    if options.background != 'none':
        # third pass: the sky without the whole total-flux region (a galaxy's faint
        # wings reach beyond its segment), then grow the region again
        wide_mask = (ndimage.distance_transform_edt(~(region | (segm.data > 0)))
                     <= 2.0 * fwhm_pix)
        if (det.good & ~wide_mask).sum() >= _MIN_SKY_FRACTION * det.good.sum():
            source_mask = wide_mask
            old_sky = det.sky
            _sky(det, source_mask, options)
            sub = np.where(det.good, det.data - det.sky, 0.0)
            if np.ndim(old_sky) != 0 or float(old_sky) != float(det.sky):
                det_sub, det_var = _mirror_fill(sub, var_det, blocked | ~det.good,
                                                det.good & ~blocked, (xc, yc))
                region, _ = _dilate(det_sub, det_var, central, options)
            other_bands_sky(source_mask)
    if _touches_border(region):
        flags |= PhotometryFlag.TRUNCATED
    if (ndimage.binary_dilation(central, iterations=2) & blocked).any():
        flags |= PhotometryFlag.BLENDED  # another source touches the central segment

    # --- per-band fluxes
    for band in bands:
        b = loaded[band]
        if b.data is None or not math.isfinite(b.calib):
            continue
        bsub = np.where(b.good, b.data - b.sky, 0.0)
        bvar = np.where(b.good, _var_array(b, shape), 0.0)
        if (region & ~b.good).any():
            flags |= PhotometryFlag.MASKED_PIXELS
        if band == det_name:
            fsub, fvar = det_sub, det_var
        else:
            fsub, fvar = _mirror_fill(bsub, bvar, blocked | ~b.good, b.good & ~blocked,
                                      (xc, yc))
        flux = float(fsub[region].sum()) * b.calib
        # pixel noise plus the uncertainty of the sky level, common to all pixels
        sky_var = (region.sum() * b.sky_err) ** 2
        err = math.sqrt(float(fvar[region].sum()) + sky_var) * b.calib
        _set_flux(row, band, '', flux, err)
        if band == det_name:
            kflux, kerr = float(det_cat.kron_flux), float(det_cat.kron_flux_err)
        else:
            kflux, kerr = _kron_flux(kron_ap, bsub, bvar, segm.data, label, b.good,
                                     (xc, yc))
        _set_flux(row, band, 'kron_', kflux * b.calib, kerr * b.calib)
    for b1, b2 in _colour_pairs(bands):
        row[f'color_{b1}_{b2}'] = row[f'mag_{b1}'] - row[f'mag_{b2}']

    # --- growth-curve radii in the detection band
    gal = np.where(region, det_sub, 0.0)
    total = float(gal.sum())
    if total > 0:
        r20, r50, r80, r90 = flux_radii(gal, (xc, yc), (0.2, 0.5, 0.8, 0.9), total=total)
        row['r50'], row['r90'] = r50 * scale, r90 * scale
        if r20 > 0 and r80 > 0:
            row['concentration'] = 5.0 * math.log10(r80 / r20)
        if math.isfinite(ellipticity) and 0 <= ellipticity < 1:
            e50, e90 = flux_radii(gal, (xc, yc), (0.5, 0.9), total=total,
                                  ellipticity=ellipticity,
                                  orientation=math.radians(orientation))
            row['r50_ellip'], row['r90_ellip'] = e50 * scale, e90 * scale

    # --- statmorph
    if options.morphology:
        morph_segm = np.where(blocked, segm.data, 0)
        morph_segm[central] = label
        psf = psf_image(fwhm_pix)
        result, messages = statmorph_morphology(
            sub, morph_segm, label, weightmap=np.sqrt(var_det), mask=~det.good, psf=psf)
        for text in messages:
            log.debug('%s: statmorph: %s', name, text)
        row['gini'] = result['gini']
        row['m20'] = result['m20']
        row['asymmetry'] = result['asymmetry']
        row['sersic_n'] = result['sersic_n']
        row['sersic_r50'] = sersic_circular_r50(result['sersic_rhalf'], result['sersic_n'],
                                                result['sersic_ellip']) * scale
        row['sersic_r50_ellip'] = result['sersic_rhalf'] * scale
        factor = psf_correction_factor(result['sersic_rhalf'], result['sersic_n'],
                                       result['sersic_ellip'], result['sersic_theta'],
                                       psf=psf, center=(xc, yc), region=region)
        row['r50_psfcorr'] = row['r50'] * factor
        row['sersic_ellipticity'] = result['sersic_ellip']
        row['morph_flag'] = result['flag']
        if result['flag'] >= 2 or result['flag_sersic'] >= 2:
            flags |= PhotometryFlag.MORPHOLOGY
    return flags


def _set_flux(row, band, kind, flux, err):
    from ..bands import flux_err_to_mag_err, flux_to_mag

    row[f'flux_{kind}{band}'] = flux
    row[f'flux_{kind}err_{band}'] = err
    row[f'mag_{kind}{band}'] = flux_to_mag(flux) if math.isfinite(flux) else math.nan
    row[f'mag_{kind}err_{band}'] = (flux_err_to_mag_err(flux, err)
                                    if math.isfinite(flux) else math.nan)


def _kron_flux(aperture, sub, var, segm, label, good, center):
    """
    Flux in the detection band's Kron aperture of another band.

    As photutils' ``SourceCatalog`` does for the detection band
    (``apermask_method='correct'``), pixels of other segments and bad pixels
    are replaced by their mirror image through the centroid (`_mirror_fill`).
    """
    if aperture is None:
        return math.nan, math.nan
    replace = ((segm > 0) & (segm != label)) | ~good
    fsub, fvar = _mirror_fill(sub, var, replace, ~replace, center)
    mask = aperture.to_mask(method='exact')
    flux_cut = mask.cutout(fsub, fill_value=0.0)
    var_cut = mask.cutout(fvar, fill_value=0.0)
    if flux_cut is None:
        return math.nan, math.nan
    flux = float((flux_cut * mask.data).sum())
    err = math.sqrt(float((var_cut * mask.data**2).sum()))
    return flux, err


def _aperture_leaves_image(aperture, shape):
    ny, nx = shape
    bbox = aperture.bbox
    return bool(bbox.ixmin < 0 or bbox.iymin < 0 or bbox.ixmax > nx or bbox.iymax > ny)


def _smooth(det, sigma):
    """Sky-subtracted, bad pixels zeroed detection image and its Gaussian-smoothed version."""
    sub = np.where(det.good, det.data - det.sky, 0.0)
    conv = ndimage.gaussian_filter(sub, sigma, mode='reflect', truncate=3.0)
    return sub, conv


def _detect(conv, good, options):
    """Threshold and segment the smoothed detection image (None: nothing found)."""
    from photutils.segmentation import detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning

    values = conv[good]
    peak = float(values.max()) if values.size else 0.0
    if not (math.isfinite(peak) and peak > 0):
        return None
    _, rms_conv = _robust_stats(values)
    if not (math.isfinite(rms_conv) and rms_conv > 0):
        # A noiseless image (e.g. a simulation without noise): threshold at a
        # small fraction of the peak instead of a multiple of the noise.
        threshold = 1e-3 * peak
    else:
        threshold = options.nsigma * rms_conv
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        return detect_sources(conv, threshold, options.npixels, mask=~good)


def _deblend(conv, segm, parent, options, problems, name):
    from photutils.segmentation import deblend_sources

    caught_msgs = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            deblended = deblend_sources(conv, segm, options.npixels, labels=[parent],
                                        contrast=options.deblend_contrast, relabel=False,
                                        progress_bar=False)
        except ValueError as exc:
            caught_msgs.append(str(exc))
            deblended = segm
    caught_msgs.extend(str(w.message) for w in caught)
    for text in caught_msgs:
        log.debug('%s: deblending: %s', name, text)
    children = np.unique(deblended.data[segm.data == parent])
    return deblended, int((children > 0).sum())


class _OneSource:
    """The photutils catalogue row of one label."""

    def __init__(self, cat, label):
        self._row = cat.select_label(label)

    def __getattr__(self, item):
        return getattr(self._row, item)


def _photutils_catalog(sub, segm, conv, var, good, label, name):
    from photutils.segmentation import SourceCatalog

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        cat = SourceCatalog(sub, segm, convolved_data=conv, error=np.sqrt(var), mask=~good)
        one = _OneSource(cat, label)
        # evaluate the lazy properties inside the warning filter
        for attr in ('x_centroid', 'y_centroid', 'ellipticity', 'orientation', 'kron_flux',
                     'kron_flux_err', 'kron_aperture'):
            getattr(one, attr)
    for w in caught:
        log.debug('%s: photutils: %s', name, w.message)
    return one


# --------------------------------------------------------------------------- public


def measure(products, *, detection_band='r', bands=None, morphology=True, jobs=1,
            progress=None, background='flat', box_size=64, nsigma=2.5, npixels=15,
            deblend=True, deblend_contrast=0.005, min_snr=5.0, max_offset=None,
            psf_fwhm=None, zeropoint=None, dilation_step=2.0, dilation_tol=0.005,
            max_dilations=40):
    """
    Measure the central galaxy of galaxy products.

    Parameters
    ----------
    products : `~astropy.io.fits.HDUList`, str, `~pathlib.Path` or a list of them
        Galaxy products (see `galsynth.products`), in memory or as files.
    detection_band : str, optional
        Band used for detection, the total-flux region, shapes and morphology.
    bands : str or sequence of str, optional
        Bands to measure (default: the bands of the first product). A product
        that lacks one gets NaN there and the ``BAD_BAND`` flag.
    morphology : bool, optional
        Also run statmorph (Gini, M20, asymmetry, Sérsic fit; slow, about
        0.3-1 s per galaxy). Without it those columns are absent.
    jobs : int, optional
        Worker processes (1: in this process).
    progress : bool, optional
        Show a progress bar (default: for 50 products or more).
    background : {'flat', '2d', 'none'}, optional
        Sky model: a sigma-clipped constant, a `~photutils.background.Background2D`
        map with boxes of ``box_size`` pixels, or none (already sky-subtracted
        images; the RMS is still measured).
    box_size : int, optional
        Box size of the ``'2d'`` background.
    nsigma : float, optional
        Detection threshold in units of the smoothed image's RMS.
    npixels : int, optional
        Minimum connected pixels of a detection.
    deblend : bool, optional
        Deblend the central source (photutils multi-thresholding + watershed).
    deblend_contrast : float, optional
        Deblending contrast (flux fraction of a separate peak).
    min_snr : float, optional
        Minimum segment signal-to-noise ratio for the central source.
    max_offset : float, optional
        Centroid offset from the image centre (pixels) beyond which
        ``OFF_CENTER`` is set (default 10% of the image size).
    psf_fwhm : float or `~astropy.units.Quantity`, optional
        PSF FWHM (arcsec when a number). Default: the detection band header's
        ``PSF_FWHM``/``PSFFWHM``/``SEEING`` card, the TRUTH table's
        ``psf_fwhm_<band>`` or ``psf_fwhm``, the PRIMARY header's cards, a
        ``PSF_R50`` card (PSF half-light radius, converted for a Moffat
        profile of index `~galsynth.photometry.morphology.DEFAULT_MOFFAT_BETA`),
        else `DEFAULT_PSF_FWHM`.
    zeropoint : float, optional
        Zero point (AB mag of one image unit) for band HDUs without ``MAGZP``.
        Default: such bands get NaN fluxes and the ``NO_ZEROPOINT`` flag.
    dilation_step : float, optional
        Radius (pixels) of each growth step of the total-flux region.
    dilation_tol : float, optional
        Growth stops when a step adds less than this fraction of the flux
        (or less than its own 1-sigma noise).
    max_dilations : int, optional
        Maximum number of growth steps.

    Returns
    -------
    `~astropy.table.QTable`
        One row per product, columns as in `COLUMNS` / `column_names`, with
        units (nanomaggy, mag, arcsec, deg) and a description on every column.

    Warns
    -----
    `~galsynth.exceptions.PhotometryWarning`
        For unreadable files, missing or all-NaN bands, missing zero points
        and galaxies on the image edge (once per product).
    `NoCentralSourceWarning`
        When no central source is found (a subclass of both
        `~galsynth.exceptions.NoDetectionWarning` and ``PhotometryWarning``).

    Raises
    ------
    ValueError
        For invalid arguments (unknown band, detection band not measured, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from galsynth.products import make_galaxy
    >>> from galsynth.photometry import measure
    >>> y, x = np.mgrid[:64, :64]
    >>> blob = 5.0 * np.exp(-0.5 * ((x - 31.5)**2 + (y - 31.5)**2) / 3.0**2)
    >>> noise = np.random.default_rng(0).normal(0.0, 0.05, (2, 64, 64))
    >>> hdul = make_galaxy(blob * [[[0.5]], [[1.0]]] + noise, bands='gr')
    >>> table = measure(hdul, morphology=False)  # truth: m_r = 16.37, g - r = 0.75
    >>> round(float(table['mag_r'][0].value), 1), round(float(table['color_g_r'][0].value), 1)
    (16.4, 0.8)
    """
    detection_band = check_bands(detection_band)[0]
    if bands is not None:
        bands = check_bands(bands)
        if detection_band not in bands:
            msg = f'detection band {detection_band!r} is not among the bands {bands}'
            raise ValueError(msg)
    if background not in ('flat', '2d', 'none'):
        msg = f"background must be 'flat', '2d' or 'none'; got {background!r}"
        raise ValueError(msg)
    for label, value in (('nsigma', nsigma), ('min_snr', min_snr),
                         ('dilation_step', dilation_step)):
        if not (np.isfinite(value) and value > 0):
            msg = f'{label} must be a positive number; got {value}'
            raise ValueError(msg)
    if psf_fwhm is not None:
        psf_fwhm = float(u.Quantity(psf_fwhm, u.arcsec).to_value(u.arcsec))
        if not (math.isfinite(psf_fwhm) and psf_fwhm > 0):
            msg = f'psf_fwhm must be positive; got {psf_fwhm}'
            raise ValueError(msg)

    single = isinstance(products, (fits.HDUList, str, os.PathLike))
    items = [products] if single else list(products)
    with_file = any(not isinstance(item, fits.HDUList) for item in items)
    if bands is None:
        bands = _default_bands(items, detection_band)
    options = _Options(
        detection_band=detection_band, bands=bands, morphology=bool(morphology),
        background=background, box_size=int(box_size), nsigma=float(nsigma),
        npixels=int(npixels), deblend=bool(deblend),
        deblend_contrast=float(deblend_contrast), min_snr=float(min_snr),
        max_offset=None if max_offset is None else float(max_offset),
        psf_fwhm=psf_fwhm, zeropoint=None if zeropoint is None else float(zeropoint),
        dilation_step=float(dilation_step), dilation_tol=float(dilation_tol),
        max_dilations=int(max_dilations))
    names = column_names(bands, morphology=options.morphology, with_file=with_file)
    work = [(item, _source_name(item, i), options, names) for i, item in enumerate(items)]
    if progress is None:
        progress = len(items) >= 50
    rows = []
    for row, problems in parallel_map(_measure_item, work, jobs=jobs, progress=progress,
                                      desc='measure', unit='galaxy'):
        rows.append(row)
        for category, text in problems:
            warnings.warn(text, category, stacklevel=2)
    return _to_table(rows, names)


def _source_name(item, index):
    if isinstance(item, fits.HDUList):
        return f'product {index}'
    return str(item)


def _default_bands(items, detection_band):
    for item in items:
        try:
            hdul = _open(item)
        except (OSError, ValueError, TypeError):
            continue
        present = galaxy_bands(hdul)
        if present:
            bands = tuple(b for b in BANDS if b in present)
            if detection_band not in bands:
                bands = tuple(b for b in BANDS if b in (*bands, detection_band))
            return bands
    return (detection_band,)


def _to_table(rows, names):
    table = QTable()
    for name in names:
        unit, description = _column_doc(name)
        values = [row[name] for row in rows]
        if name == 'file':
            col = np.array(values, dtype=str)
        elif name in ('flags', 'morph_flag'):
            col = np.array(values, dtype=np.int32)
        else:
            col = np.array(values, dtype=np.float64)
        if unit is not None:
            table[name] = col * unit
            table[name].info.description = description
        else:
            table[name] = col
            table[name].info.description = description
    return table
