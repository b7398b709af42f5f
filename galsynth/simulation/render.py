# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Rendering simulated galaxies: *how* they look in SDSS images.

`render_galaxy` turns one set of galaxy parameters (a row of
`galsynth.simulation.draw_population`, or a dict you write yourself) into a
galaxy product (`galsynth.products.make_galaxy`) with GalSim:

* the bulge (`galsim.Sersic`, index ``bulge_n``) and the exponential disk
  (`galsim.Exponential`) are sheared to their axis ratios and rotated to the
  position angle (degrees east of north: North is +y and East is -x in the
  product's TAN WCS, so GalSim's angle from +x is ``PA + 90``);
* each has its own SED (`galsynth.simulation.sed`); the flux of each
  component in each band is precomputed from the SEDs redshifted and
  integrated through the SDSS filters, so a band image is one achromatic
  GalSim drawing ``(f_bulge * bulge + f_disk * disk) * PSF`` (identical to
  chromatic drawing for a PSF that does not vary within a band);
* the PSF is a Moffat profile (beta = 3, close to SDSS's PSF wings;
  truncated at 5 FWHM, beyond which 0.14% of its light would lie) whose
  r-band FWHM (the *seeing*) is drawn log-normally around 1.4 arcsec (sigma
  0.15 in ln, clipped to 0.9-2.2 arcsec), scaled to the other bands as
  :math:`\\lambda^{-0.2}` (Kolmogorov turbulence); images include the
  pixel response;
* optional neighbours: field galaxies (number counts
  :math:`dN/dm \\propto 10^{0.45 m}`, ~8000 deg^-2 at 16 < r < 22, cf.
  Yasuda et al. 2001, AJ 122, 1104) and stars (~2000 deg^-2 at 16 < r < 22,
  high Galactic latitude, colours along an approximate SDSS stellar locus
  after Covey et al. 2007, AJ 134, 2398), placed anywhere in the stamp
  except within ``max(3 r50, 4 arcsec)`` of the galaxy's centre;
* SDSS single-epoch noise (`SDSS_CONDITIONS`): the sky (typical dark-sky
  surface brightness per band), photon noise of sky and sources with the
  camera gain, and the dark/read-noise variance, all in detector counts
  (DN) converted with typical nanomaggies-per-DN calibrations. The sky is
  then subtracted, as in SDSS ``frame`` images. The 5-sigma point-source
  depths that follow at 1.4" seeing (`point_source_depth`) are
  u 21.9, g 23.0, r 22.5, i 22.0, z 20.6; SDSS quotes 95%-completeness
  limits for point sources of 22.0, 22.2, 22.2, 21.3, 20.5 (Abazajian et
  al. 2004).

The product carries the inverse variance of the noise per band
(``IVAR_<BAND>`` HDUs: ``1 / variance`` expected from the noiseless image
plus sky, in nanomaggy**-2; written also when ``noise=False``, where it
describes the noise that was not added) and the truth (``TRUTH`` table, see
`TRUTH_COLUMNS`).
"""

import contextlib
import functools
import logging
import math
import warnings

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from .. import __version__
from ..bands import BANDS, PIXEL_SCALE, ZEROPOINT, check_bands, effective_wavelength
from ..products import make_galaxy
from . import population as _pop
from . import sed as _sed

__all__ = [
    'SDSS_CONDITIONS',
    'SEEING',
    'PSF_BETA',
    'NEIGHBOUR_DENSITY',
    'STAR_DENSITY',
    'TRUTH_COLUMNS',
    'complete_params',
    'draw_seeing',
    'psf_profile',
    'galaxy_profile',
    'render_images',
    'render_galaxy',
    'add_noise',
    'truth_table',
    'truth_hdu',
    'sky_level',
    'point_source_depth',
]

log = logging.getLogger(__name__)

#: SDSS single-epoch observing conditions per band (53.9 s drift scan):
#: ``sky`` typical dark-sky surface brightness (AB mag/arcsec^2; cf.
#: Stoughton et al. 2002), ``gain`` (electrons/DN) and ``dark_variance``
#: (DN^2, dark current + read noise), medians over the six camera columns of
#: the SDSS ``frame`` data model (DR8+), and ``nmgy_per_dn`` (nanomaggies
#: per DN, the frames' ``NMGY`` calibration), typical values from the
#: photometric zero points ``aa`` and extinction ``kk`` at airmass 1.2.
SDSS_CONDITIONS = {
    'u': {'sky': 22.1, 'gain': 1.6, 'dark_variance': 9.6, 'nmgy_per_dn': 0.0090},
    'g': {'sky': 21.9, 'gain': 3.9, 'dark_variance': 1.6, 'nmgy_per_dn': 0.0040},
    'r': {'sky': 20.8, 'gain': 4.7, 'dark_variance': 1.1, 'nmgy_per_dn': 0.0052},
    'i': {'sky': 20.2, 'gain': 4.9, 'dark_variance': 6.0, 'nmgy_per_dn': 0.0072},
    'z': {'sky': 18.9, 'gain': 4.8, 'dark_variance': 1.5, 'nmgy_per_dn': 0.031},
}

#: Seeing distribution: r-band PSF FWHM (arcsec), log-normal.
SEEING = {'median': 1.4, 'sigma_ln': 0.15, 'min': 0.9, 'max': 2.2}

#: Moffat index of the PSF (truncated at 5 FWHM).
PSF_BETA = 3.0

#: Field galaxies per square degree with 16 < r < 22 (counts slope 0.45).
NEIGHBOUR_DENSITY = 8000.0
#: Stars per square degree with 16 < r < 22 (counts slope 0.2).
STAR_DENSITY = 2000.0

_NEIGHBOUR_MAG = (16.0, 22.0)
_MAX_PATCH = 64
_NEIGHBOUR_SLOPE = 0.45
_STAR_SLOPE = 0.2
# Approximate SDSS stellar locus (after Covey et al. 2007): g-r -> u-g, r-i, i-z.
_LOCUS = np.array([
    # g-r   u-g   r-i   i-z
    [0.20, 0.80, 0.05, 0.00],
    [0.40, 0.95, 0.13, 0.05],
    [0.60, 1.30, 0.22, 0.10],
    [0.80, 1.70, 0.30, 0.15],
    [1.20, 2.50, 0.55, 0.30],
    [1.40, 2.60, 1.00, 0.50],
    [1.55, 2.60, 1.60, 0.80],
])

#: Truth columns of every product: name -> (unit, description).
TRUTH_COLUMNS = {
    'redshift': (None, 'redshift'),
    'type': (None, "'red' (red sequence) or 'blue' (blue cloud)"),
    'ra': (u.deg, 'RA of the galaxy centre (= CRVAL1, ICRS)'),
    'dec': (u.deg, 'Dec of the galaxy centre (= CRVAL2)'),
    'mag_<band>': (u.mag, 'total apparent AB magnitude, before noise'),
    'flux_<band>': (None, 'total flux in nanomaggies, before noise'),
    'abs_mag_r': (u.mag, '^{0.1}r absolute magnitude (Planck18)'),
    'r50': (u.arcsec, 'half-light radius: circle holding half the PSF-free r-band light'),
    'r50_kpc': (u.kpc, 'r50 in proper kpc'),
    'bulge_to_total': (None, 'bulge fraction of the r-band flux'),
    'bulge_n': (None, 'Sersic index of the bulge'),
    'bulge_r50': (u.arcsec, 'circularized half-light radius of the bulge'),
    'disk_r50': (u.arcsec, 'circularized half-light radius of the disk'),
    'bulge_q': (None, 'axis ratio b/a of the bulge'),
    'disk_q': (None, 'axis ratio b/a of the disk'),
    'ellipticity': (None, '1 - q, q the r-flux-weighted mean axis ratio'),
    'position_angle': (u.deg, 'major axis, east of north'),
    'bulge_sed': (None, 'CWW template index of the bulge (0 E, 1 Sbc, 2 Scd, 3 Im)'),
    'disk_sed': (None, 'CWW template index of the disk'),
    'rest_u_r': (u.mag, 'rest-frame u - r colour'),
    'rest_g_r': (u.mag, 'rest-frame g - r colour'),
    'seeing': (u.arcsec, 'r-band PSF FWHM (0 without PSF)'),
    'psf_fwhm_<band>': (u.arcsec, 'PSF FWHM in the band'),
    'sky_<band>': (None, 'sky level that was subtracted, nanomaggies/arcsec^2'),
    'n_neighbours': (None, 'number of neighbouring galaxies in the stamp'),
    'n_stars': (None, 'number of stars in the stamp'),
    'noise': (None, 'noise added'),
    'psf': (None, 'PSF applied'),
    'seed': (None, "the galaxy's seed"),
}

# Divider between red and blue galaxies, Baldry et al. (2004): rest-frame u - r.
_BALDRY_DIVIDER = (2.06, 0.244, -20.07, 1.09)
_DEFAULT_SIZE_RATIO = {'red': 0.4, 'blue': 0.15}


def _value(x, unit=None):
    if isinstance(x, u.Quantity):
        return float(x.to_value(unit) if unit is not None else x.value)
    if isinstance(x, np.generic | np.ndarray):
        return x.item()
    return x


def complete_params(params):
    """
    Check galaxy parameters and derive the missing ones.

    Parameters
    ----------
    params : dict, `~astropy.table.Row` or `~astropy.table.QTable` row
        Needs ``redshift``; the brightness as ``mag_r`` (takes precedence)
        or ``abs_mag_r``; the size as ``bulge_r50`` and ``disk_r50``
        (arcsec) or as ``r50`` (the component radii then get the default
        ratio 0.4 for red, 0.15 for blue galaxies). Optional, with defaults:
        ``bulge_to_total`` (0.3), ``bulge_n`` (4), ``bulge_q`` and
        ``disk_q`` (1), ``position_angle`` (0 deg), ``bulge_sed`` (0, E),
        ``disk_sed`` (1.5), ``type`` (from the rest-frame u - r colour and
        the Baldry et al. 2004 divider). Quantities are converted (arcsec,
        deg, mag).

    Returns
    -------
    dict
        Plain floats and strings: every column of `draw_population` (``r50``
        recomputed from the components when they were given).

    Raises
    ------
    ValueError
        For a missing or impossible parameter.
    """
    if hasattr(params, 'colnames'):
        params = {c: params[c] for c in params.colnames}
    params = dict(params)
    get = params.get
    missing = [k for k in ('redshift',) if k not in params]
    if 'mag_r' not in params and 'abs_mag_r' not in params:
        missing.append('mag_r or abs_mag_r')
    if 'r50' not in params and not ('bulge_r50' in params and 'disk_r50' in params):
        missing.append('r50 or bulge_r50 + disk_r50')
    if missing:
        msg = f'galaxy parameters lack {", ".join(missing)}'
        raise ValueError(msg)
    p = {
        'redshift': float(_value(params['redshift'])),
        'bulge_to_total': float(_value(get('bulge_to_total', 0.3))),
        'bulge_n': float(_value(get('bulge_n', 4.0))),
        'bulge_q': float(_value(get('bulge_q', 1.0))),
        'disk_q': float(_value(get('disk_q', 1.0))),
        'position_angle': float(_value(get('position_angle', 0.0), u.deg)) % 180.0,
        'bulge_sed': float(_value(get('bulge_sed', 0.0))),
        'disk_sed': float(_value(get('disk_sed', 1.5))),
    }
    if not 0.0 < p['redshift'] <= 1.0:
        msg = f'redshift must be in (0, 1]; got {p["redshift"]}'
        raise ValueError(msg)
    if not 0.0 <= p['bulge_to_total'] <= 1.0:
        msg = f'bulge_to_total must be in [0, 1]; got {p["bulge_to_total"]}'
        raise ValueError(msg)
    if not 0.3 <= p['bulge_n'] <= 6.2:
        msg = f'bulge_n must be in [0.3, 6.2] (GalSim Sersic); got {p["bulge_n"]}'
        raise ValueError(msg)
    for key in ('bulge_q', 'disk_q'):
        if not 0.05 <= p[key] <= 1.0:
            msg = f'{key} must be in [0.05, 1]; got {p[key]}'
            raise ValueError(msg)
    if 'mag_r' in params:
        _, _, abs_mag, mag_r = _pop.component_fluxes(
            p['redshift'], p['bulge_sed'], p['disk_sed'], p['bulge_to_total'],
            mag_r=_value(params['mag_r'], u.mag), bands='r')
    else:
        _, _, abs_mag, mag_r = _pop.component_fluxes(
            p['redshift'], p['bulge_sed'], p['disk_sed'], p['bulge_to_total'],
            abs_mag_r=_value(params['abs_mag_r'], u.mag), bands='r')
    p['abs_mag_r'], p['mag_r'] = abs_mag, mag_r
    _pop.complete_magnitudes(p)
    kind = get('type')
    if kind is None:
        a, b, m0, w = _BALDRY_DIVIDER
        divider = a - b * math.tanh((abs_mag - m0) / w)
        kind = 'red' if p['rest_u_r'] >= divider else 'blue'
    p['type'] = str(_value(kind)).strip()
    kpc_per_arcsec = _pop._kpc_per_arcsec(p['redshift'])
    if 'bulge_r50' in params and 'disk_r50' in params:
        p['bulge_r50'] = float(_value(params['bulge_r50'], u.arcsec))
        p['disk_r50'] = float(_value(params['disk_r50'], u.arcsec))
        p['r50'] = _pop.half_light_radius(p['bulge_r50'], p['disk_r50'], p['bulge_to_total'],
                                          bulge_q=p['bulge_q'], disk_q=p['disk_q'],
                                          bulge_n=p['bulge_n'])
    else:
        r50 = float(_value(params['r50'], u.arcsec))
        if not r50 > 0:
            msg = f'r50 must be positive; got {r50}'
            raise ValueError(msg)
        ratio = _DEFAULT_SIZE_RATIO.get(p['type'], 0.25)
        unit = _pop.half_light_radius(ratio, 1.0, p['bulge_to_total'], bulge_q=p['bulge_q'],
                                      disk_q=p['disk_q'], bulge_n=p['bulge_n'])
        p['r50'] = r50
        p['disk_r50'] = r50 / unit
        p['bulge_r50'] = ratio * p['disk_r50']
    if (p['bulge_to_total'] > 0 and p['bulge_r50'] <= 0) or \
            (p['bulge_to_total'] < 1 and p['disk_r50'] <= 0):
        msg = f'component radii must be positive; got {p["bulge_r50"]}, {p["disk_r50"]}'
        raise ValueError(msg)
    p['r50_kpc'] = p['r50'] * kpc_per_arcsec
    if 'seed' in params:
        p['seed'] = int(_value(params['seed']))
    return p


# ----------------------------------------------------------------------------
# Observing conditions

def draw_seeing(rng):
    """
    Draw an r-band seeing FWHM (arcsec) from `SEEING`.

    Parameters
    ----------
    rng : `numpy.random.Generator`

    Returns
    -------
    float
    """
    fwhm = SEEING['median'] * math.exp(SEEING['sigma_ln'] * rng.standard_normal())
    return float(min(max(fwhm, SEEING['min']), SEEING['max']))


@functools.cache
def _wavelength_ratio(band):
    return float(effective_wavelength(band) / effective_wavelength('r'))


def psf_fwhm(seeing, band):
    """
    PSF FWHM in a band for a given r-band seeing (:math:`\\lambda^{-0.2}`).

    Parameters
    ----------
    seeing : float
        r-band FWHM (arcsec).
    band : str

    Returns
    -------
    float
        FWHM in arcsec.
    """
    return float(seeing) * _wavelength_ratio(band) ** -0.2


@functools.cache
def _gsparams():
    import galsim

    return galsim.GSParams()


def psf_profile(fwhm):
    """
    The simulator's PSF: a Moffat profile of index `PSF_BETA`, truncated at
    5 FWHM.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (arcsec).

    Returns
    -------
    `galsim.GSObject`
        Unit flux.
    """
    # Dilating one cached unit-FWHM profile lets GalSim reuse its Fourier extent
    # (maxk, stepk) instead of computing it again for every galaxy.
    return _unit_psf().dilate(float(fwhm))


@functools.lru_cache(maxsize=1)
def _unit_psf():
    import galsim

    psf = galsim.Moffat(beta=PSF_BETA, fwhm=1.0, trunc=5.0, gsparams=_gsparams())
    psf.maxk, psf.stepk  # noqa: B018 - compute and cache them now
    return psf


@contextlib.contextmanager
def _hard_edges_ok():
    """
    Silence GalSim's advice about convolving profiles with hard edges.

    The truncated PSF (and truncated neighbours) and the pixel have hard
    edges; GalSim then suggests real-space convolution, but with the smooth
    PSF in the convolution the FFT is accurate (and much faster) here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Doing convolution of .* hard edges')
        yield


def sky_level(band, conditions=None):
    """
    Sky surface brightness of a band in nanomaggies per square arcsec.

    Parameters
    ----------
    band : str
    conditions : dict, optional
        Per-band conditions (default `SDSS_CONDITIONS`).

    Returns
    -------
    `~astropy.units.Quantity`
    """
    cond = (conditions or SDSS_CONDITIONS)[band]
    return 10.0 ** (-0.4 * (cond['sky'] - ZEROPOINT)) * u.nanomaggy / u.arcsec ** 2


def _sky_pixel_dn(band, conditions, pixel_scale):
    cond = conditions[band]
    sky = sky_level(band, conditions).to_value(u.nanomaggy / u.arcsec ** 2)
    return sky * pixel_scale ** 2 / cond['nmgy_per_dn']


def add_noise(images, bands, rng, *, conditions=None, pixel_scale=PIXEL_SCALE, noise=True,
              exact_poisson=False):
    """
    Add SDSS-like noise to noiseless images and give their inverse variance.

    In each band the image (nanomaggies) is converted to counts with
    ``nmgy_per_dn`` and the sky (``sky``) is added; the noise is the photon
    noise of these electrons (``gain`` per DN) plus a Gaussian of variance
    ``dark_variance`` (DN^2); the sky is subtracted and the result converted
    back to nanomaggies. By default the photon noise is drawn in its Gaussian
    limit (variance = expected electrons), four times faster than Poisson
    draws and indistinguishable from them here: the sky alone gives >= 250
    electrons per pixel in g, r, i (~40 in u), a per-pixel skewness
    ``1 / sqrt(N) <= 0.06``.

    Parameters
    ----------
    images : `numpy.ndarray`, shape ``(n_bands, ny, nx)``
        Noiseless images in nanomaggies.
    bands : sequence of str
    rng : `numpy.random.Generator`
    conditions : dict, optional
        Per-band conditions (default `SDSS_CONDITIONS`).
    pixel_scale : `~astropy.units.Quantity`, optional
    noise : bool, optional
        If `False`, return the images unchanged (and the same ``ivar``).
    exact_poisson : bool, optional
        Draw the electrons from a Poisson law instead of its Gaussian limit.

    Returns
    -------
    noisy : `numpy.ndarray`, float32
        Sky-subtracted images in nanomaggies.
    ivar : `numpy.ndarray`, float32
        Expected inverse variance (nanomaggy**-2) from the noiseless image
        and the sky.
    """
    conditions = conditions or SDSS_CONDITIONS
    scale = u.Quantity(pixel_scale, u.arcsec).value
    images = np.asarray(images, dtype=np.float64)
    noisy = np.empty(images.shape, dtype=np.float32)
    ivar = np.empty(images.shape, dtype=np.float32)
    for k, band in enumerate(bands):
        cond = conditions[band]
        c = cond['nmgy_per_dn']
        gain = cond['gain']
        sky_dn = _sky_pixel_dn(band, conditions, scale)
        model_dn = np.maximum(images[k], 0.0) / c + sky_dn
        var_dn = model_dn / gain + cond['dark_variance']
        ivar[k] = 1.0 / (var_dn * c * c)
        if noise and exact_poisson:
            electrons = rng.poisson(model_dn * gain)
            dn = electrons / gain + rng.normal(0.0, math.sqrt(cond['dark_variance']),
                                               size=model_dn.shape)
            # Keep the model's sub-zero FFT ringing (tiny) rather than clipping it.
            noisy[k] = (dn - sky_dn + np.minimum(images[k], 0.0) / c) * c
        elif noise:
            # Photon noise in its Gaussian limit (>= 40 electrons/pixel from the sky alone).
            sigma = np.sqrt(var_dn) * c
            noisy[k] = images[k] + sigma * rng.standard_normal(size=model_dn.shape)
        else:
            noisy[k] = images[k]
    return noisy, ivar


def point_source_depth(band, *, seeing=SEEING['median'], nsigma=5.0, conditions=None,
                       pixel_scale=PIXEL_SCALE):
    """
    Point-source detection limit of the noise model (sky-limited).

    The flux of a point source whose optimal (PSF-weighted) measurement has
    signal-to-noise ``nsigma``: ``nsigma * sigma_pixel * sqrt(NEA)``, with
    the noise-equivalent area :math:`{\\rm NEA} = 1 / \\sum p_i^2` of the
    pixelized PSF ``p``.

    Parameters
    ----------
    band : str
    seeing : float, optional
        r-band FWHM (arcsec).
    nsigma : float, optional
    conditions : dict, optional
    pixel_scale : `~astropy.units.Quantity`, optional

    Returns
    -------
    float
        AB magnitude.
    """
    conditions = conditions or SDSS_CONDITIONS
    scale = u.Quantity(pixel_scale, u.arcsec).value
    cond = conditions[band]
    sky_dn = _sky_pixel_dn(band, conditions, scale)
    sigma = math.sqrt(sky_dn / cond['gain'] + cond['dark_variance']) * cond['nmgy_per_dn']
    with _hard_edges_ok():
        psf = psf_profile(psf_fwhm(seeing, band)).drawImage(nx=63, ny=63, scale=scale,
                                                            method='fft').array
    nea = 1.0 / np.sum((psf / psf.sum()) ** 2)
    return float(ZEROPOINT - 2.5 * math.log10(nsigma * sigma * math.sqrt(nea)))


# ----------------------------------------------------------------------------
# Profiles

def galaxy_profile(params):
    """
    The PSF-free GalSim profiles of a galaxy's bulge and disk (unit flux).

    Parameters
    ----------
    params : dict
        Completed parameters (`complete_params`).

    Returns
    -------
    bulge, disk : `galsim.GSObject`
        Sheared and rotated, unit flux each (`None` for a component without
        light).
    """
    import galsim

    beta = (params['position_angle'] + 90.0) * galsim.degrees
    bulge = disk = None
    if params['bulge_to_total'] > 0:
        bulge = _unit_profile(params['bulge_n']).dilate(params['bulge_r50'])
        if params['bulge_q'] < 1:
            bulge = bulge.shear(q=params['bulge_q'], beta=beta)
    if params['bulge_to_total'] < 1:
        disk = _unit_profile(1.0).dilate(params['disk_r50'])
        if params['disk_q'] < 1:
            disk = disk.shear(q=params['disk_q'], beta=beta)
    return bulge, disk


@functools.lru_cache(maxsize=64)
def _unit_profile(n, trunc=0.0):
    """
    A unit-flux Sérsic profile with half-light radius 1 (n = 1: exponential).

    Galaxies dilate it; GalSim then reuses its Fourier-space extent (``maxk``,
    ``stepk``), whose computation costs milliseconds per new profile.
    """
    import galsim

    gsp = _gsparams()
    if n == 1.0 and trunc == 0.0:
        prof = galsim.Exponential(half_light_radius=1.0, gsparams=gsp)
    else:
        prof = galsim.Sersic(float(n), half_light_radius=1.0, trunc=float(trunc), gsparams=gsp)
    prof.maxk, prof.stepk  # noqa: B018 - compute and cache them now
    return prof


def _combine(bulge, disk, f_bulge, f_disk):
    import galsim

    parts = []
    if bulge is not None and f_bulge > 0:
        parts.append(bulge.withFlux(float(f_bulge)))
    if disk is not None and f_disk > 0:
        parts.append(disk.withFlux(float(f_disk)))
    return parts[0] if len(parts) == 1 else galsim.Add(parts)


def _draw_psf_free(obj, image, oversample=4):
    """Pixel-integrated drawing without a PSF: 4x4-oversampled sampling, binned."""
    import galsim

    ny, nx = image.array.shape
    scale = image.scale
    fine = galsim.ImageF(nx * oversample, ny * oversample, scale=scale / oversample)
    obj.drawImage(image=fine, method='no_pixel')
    image.array[:] += fine.array.reshape(ny, oversample, nx, oversample).sum(axis=(1, 3))


# ----------------------------------------------------------------------------
# Neighbours

def _draw_neighbour_catalogue(rng, width, exclusion):
    """Neighbouring galaxies and stars: positions (arcsec from centre) and properties."""
    area = (width / 3600.0) ** 2
    out = []
    for kind, density, slope in (('galaxy', NEIGHBOUR_DENSITY, _NEIGHBOUR_SLOPE),
                                 ('star', STAR_DENSITY, _STAR_SLOPE)):
        count = rng.poisson(density * area)
        m0, m1 = _NEIGHBOUR_MAG
        # Inverse CDF of dN/dm ~ 10**(slope m) on [m0, m1].
        a0, a1 = 10.0 ** (slope * m0), 10.0 ** (slope * m1)
        for _ in range(count):
            mag = math.log10(a0 + rng.random() * (a1 - a0)) / slope
            for _ in range(100):  # the exclusion zone may cover most of a small stamp
                x, y = rng.uniform(-width / 2, width / 2, 2)
                if math.hypot(x, y) >= exclusion:
                    out.append((kind, mag, x, y))
                    break
    return out


def _neighbour_objects(rng, catalogue, bands):
    """GalSim profiles (unit flux) and band fluxes of the neighbours."""
    import galsim

    objects = []
    for kind, mag_r, x, y in catalogue:
        f_r = 10.0 ** (-0.4 * (mag_r - ZEROPOINT))
        if kind == 'star':
            gr = (rng.normal(0.35, 0.1) if rng.random() < 0.5 else rng.normal(1.3, 0.15))
            gr = float(np.clip(gr, _LOCUS[0, 0], _LOCUS[-1, 0]))
            ug, ri, iz = (np.interp(gr, _LOCUS[:, 0], _LOCUS[:, j]) for j in (1, 2, 3))
            mags = {'r': mag_r, 'g': mag_r + gr, 'u': mag_r + gr + ug, 'i': mag_r - ri,
                    'z': mag_r - ri - iz}
            fluxes = [10.0 ** (-0.4 * (mags[b] - ZEROPOINT)) for b in bands]
            objects.append((None, fluxes, x, y))
            continue
        red = rng.random() < 0.3
        z = rng.uniform(0.05, 0.8)
        t = rng.uniform(0.0, 0.5) if red else rng.uniform(1.0, 3.0)
        factors = _sed.flux_factors(t, z, BANDS)
        ir = BANDS.index('r')
        fluxes = [f_r * factors[BANDS.index(b)] / factors[ir] for b in bands]
        r50 = 10.0 ** (0.2 - 0.1 * (mag_r - 20.0) + 0.15 * rng.standard_normal())
        cos_i = rng.random()
        q = math.sqrt(cos_i ** 2 * (1 - 0.2 ** 2) + 0.2 ** 2) if not red else rng.uniform(0.5, 1)
        beta = rng.uniform(0, 180) * galsim.degrees
        # (de Vaucouleurs truncated at 8 r50 keeps the FFT small: ~4x faster)
        prof = _unit_profile(4.0, 8.0) if red else _unit_profile(1.0)
        prof = prof.dilate(r50)
        objects.append((prof.shear(q=q, beta=beta), fluxes, x, y))
    return objects


def _neighbour_stamps(objects, psf, size, pixel_scale, psf_on):
    """
    Draw every neighbour once, with unit r-band flux, into its own patch.

    The patches are drawn with the r-band PSF and added to each band scaled by
    the neighbour's flux there (the PSF width changes by < 10% across gri,
    immaterial for faint neighbours). Patches are at most 64 pixels wide.
    """
    import galsim

    image_bounds = galsim.BoundsI(1, size, 1, size)
    centre = (size + 1) / 2.0
    stamps = []
    for obj, fluxes, x, y in objects:
        px = centre + x / pixel_scale
        py = centre + y / pixel_scale
        ix, iy = int(round(px)), int(round(py))
        if obj is None and not psf_on:  # a star without PSF: one pixel
            bounds = galsim.BoundsI(ix, ix, iy, iy) & image_bounds
            if bounds.isDefined():
                stamps.append((bounds, np.ones((1, 1), dtype=np.float32), fluxes))
            continue
        if obj is None:
            prof = psf
        elif psf_on:
            with _hard_edges_ok():
                prof = galsim.Convolve(obj, psf)
        else:
            prof = obj
        half = min(int(prof.getGoodImageSize(pixel_scale)) // 2 + 2, _MAX_PATCH // 2)
        bounds = galsim.BoundsI(ix - half, ix + half, iy - half, iy + half) & image_bounds
        if not bounds.isDefined():
            continue
        patch = galsim.ImageF(bounds, scale=pixel_scale)
        if psf_on or obj is None:
            with _hard_edges_ok():
                prof.drawImage(image=patch, center=galsim.PositionD(px, py), method='fft')
        else:
            _draw_psf_free(prof.shift((px - patch.true_center.x) * pixel_scale,
                                      (py - patch.true_center.y) * pixel_scale), patch)
        stamps.append((bounds, patch.array, fluxes))
    return stamps


# ----------------------------------------------------------------------------
# Rendering

def render_images(params, *, size=256, bands='gri', seed=None, noise=True, psf=True,
                  neighbours=True, seeing=None, conditions=None):
    """
    Render the band images of one galaxy (arrays; see `render_galaxy`).

    Parameters
    ----------
    params : dict or table row
        Galaxy parameters (see `complete_params`).
    size : int, optional
        Stamp width and height in pixels.
    bands : str or sequence of str, optional
    seed : int, optional
        The galaxy's seed: the seeing and the neighbours are drawn from
        ``galaxy_rng(seed, 1)``, the noise from ``galaxy_rng(seed, 2)``, so
        switching options (noise, neighbours, PSF) keeps the rest identical.
        Default ``params['seed']`` when present, else fresh entropy.
    noise, psf, neighbours : bool, optional
        Add noise; convolve with the PSF; add neighbouring sources.
    seeing : float, optional
        r-band PSF FWHM (arcsec); default ``params['seeing']`` if present,
        else drawn from `SEEING`.
    conditions : dict, optional
        Per-band observing conditions (default `SDSS_CONDITIONS`).

    Returns
    -------
    dict
        ``images`` and ``ivar`` (float32, ``(n_bands, size, size)``,
        nanomaggies and nanomaggy**-2), ``truth`` (dict, see
        `TRUTH_COLUMNS`), ``params`` (the completed parameters).
    """
    import galsim

    bands = check_bands(bands)
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        msg = f'size must be a positive integer; got {size!r}'
        raise ValueError(msg)
    size = int(size)
    conditions = conditions or SDSS_CONDITIONS
    if seed is None and 'seed' in _keys(params):
        seed = int(_value(params['seed']))
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    rng = _pop.galaxy_rng(seed, 1)
    p = complete_params(params)
    p['seed'] = int(seed)
    pixel_scale = PIXEL_SCALE.to_value(u.arcsec)

    drawn = draw_seeing(rng)  # always drawn, so that the neighbours do not depend on options
    if seeing is None:
        seeing = _value(params['seeing'], u.arcsec) if 'seeing' in _keys(params) else drawn
    seeing = float(seeing)
    if not seeing > 0:
        msg = f'seeing must be positive; got {seeing}'
        raise ValueError(msg)

    bulge_f, disk_f, _, _ = _pop.component_fluxes(
        p['redshift'], p['bulge_sed'], p['disk_sed'], p['bulge_to_total'], mag_r=p['mag_r'],
        bands=bands)
    bulge, disk = galaxy_profile(p)

    width = size * pixel_scale
    catalogue = _draw_neighbour_catalogue(rng, width, max(3.0 * p['r50'], 4.0))
    others = _neighbour_objects(rng, catalogue, bands) if neighbours else []

    stamps = _neighbour_stamps(others, psf_profile(psf_fwhm(seeing, 'r')), size, pixel_scale,
                               psf)
    images = np.zeros((len(bands), size, size), dtype=np.float32)
    fwhms = {}
    for k, band in enumerate(bands):
        image = galsim.ImageF(size, size, scale=pixel_scale)
        gal = _combine(bulge, disk, bulge_f[k], disk_f[k])
        fwhm = psf_fwhm(seeing, band)
        fwhms[band] = fwhm if psf else 0.0
        band_psf = psf_profile(fwhm)
        if psf:
            with _hard_edges_ok():
                conv = galsim.Convolve(gal, band_psf)
            # Draw into the central part that GalSim's own FFT needs (the light
            # beyond it, < 0.5%, folds back into it, so the total is kept): the
            # k-space evaluation then costs (sub / size)^2 of a full-stamp draw.
            sub = min(size, max(64, int(conv.getGoodImageSize(pixel_scale))))
            sub += (size - sub) % 2  # same parity: same centre
            lo = (size - sub) // 2 + 1
            with _hard_edges_ok():
                conv.drawImage(image=image[galsim.BoundsI(lo, lo + sub - 1, lo, lo + sub - 1)],
                               method='fft')
        else:
            _draw_psf_free(gal, image)
        images[k] = image.array
        for bounds, patch, fluxes in stamps:
            images[k, bounds.ymin - 1:bounds.ymax, bounds.xmin - 1:bounds.xmax] += \
                fluxes[k] * patch

    noisy, ivar = add_noise(images, bands, _pop.galaxy_rng(seed, 2), conditions=conditions,
                            noise=noise)

    truth = {'redshift': p['redshift'], 'type': p['type'], 'ra': 0.0, 'dec': 0.0}
    for k, band in enumerate(bands):
        flux = float(bulge_f[k] + disk_f[k])
        truth[f'mag_{band}'] = ZEROPOINT - 2.5 * math.log10(flux)
        truth[f'flux_{band}'] = flux
    for key in ('abs_mag_r', 'r50', 'r50_kpc', 'bulge_to_total', 'bulge_n', 'bulge_r50',
                'disk_r50', 'bulge_q', 'disk_q', 'ellipticity', 'position_angle', 'bulge_sed',
                'disk_sed', 'rest_u_r', 'rest_g_r'):
        truth[key] = p[key]
    truth['seeing'] = seeing if psf else 0.0
    for band in bands:
        truth[f'psf_fwhm_{band}'] = fwhms[band]
    for band in bands:
        truth[f'sky_{band}'] = sky_level(band, conditions).value
    truth['n_neighbours'] = sum(1 for o in others if o[0] is not None)
    truth['n_stars'] = sum(1 for o in others if o[0] is None)
    truth['noise'] = bool(noise)
    truth['psf'] = bool(psf)
    truth['seed'] = int(seed)
    return {'images': noisy, 'ivar': ivar, 'truth': truth, 'params': p, 'seeing': seeing}


def _keys(params):
    return params.colnames if hasattr(params, 'colnames') else params.keys()


def _truth_unit(key):
    generic = key.rsplit('_', 1)[0] + '_<band>' if key.rsplit('_', 1)[-1] in BANDS else key
    return TRUTH_COLUMNS.get(generic, TRUTH_COLUMNS.get(key, (None, '')))[0]


def truth_table(truth):
    """
    A truth dict as a one-row `~astropy.table.Table` with units.

    Parameters
    ----------
    truth : dict
        Column -> value (``type`` is stored with 4 characters).

    Returns
    -------
    `~astropy.table.Table`
    """
    cols, names = [], []
    for key, value in truth.items():
        unit = _truth_unit(key)
        col = np.array([value], dtype='U4') if key == 'type' else np.array([value])
        names.append(key)
        cols.append(col if unit is None else col * unit)
    return Table(cols, names=names)


# FITS binary-table formats of the truth columns: TFORM -> raw big-endian dtype.
_RAW_FORMATS = {'D': '>f8', 'K': '>i8', 'L': 'S1', '4A': 'S4'}


@functools.lru_cache(maxsize=32)
def _truth_template(signature):
    """Header (bytes) and raw record dtype of a TRUTH table with these columns."""
    example = {}
    for name, kind in signature:
        example[name] = {'f': 0.0, 'i': 0, 'b': False, 's': 'red'}[kind]
    hdu = fits.table_to_hdu(truth_table(example))
    hdu.name = 'TRUTH'
    header = hdu.header
    dtype = []
    for i, (name, _) in enumerate(signature, start=1):
        tform = header[f'TFORM{i}']
        dtype.append((name, _RAW_FORMATS[tform]))
    return header.tostring().encode('ascii'), np.dtype(dtype)


def _kind(value):
    if isinstance(value, bool | np.bool_):
        return 'b'
    if isinstance(value, int | np.integer):
        return 'i'
    if isinstance(value, str):
        return 's'
    return 'f'


def truth_hdu(truth):
    """
    The ``TRUTH`` binary table HDU of a truth dict, built fast.

    Astropy builds a 40-column table HDU in ~30 ms; this writes the same
    header (made once per set of columns by `astropy.io.fits.table_to_hdu`)
    and the packed big-endian row, and lets astropy parse them (~2 ms).

    Parameters
    ----------
    truth : dict
        Column -> float, int, bool or str (``type``).

    Returns
    -------
    `~astropy.io.fits.BinTableHDU`
    """
    signature = tuple((k, _kind(v)) for k, v in truth.items())
    header, dtype = _truth_template(signature)
    values = tuple((b'T' if v else b'F') if kind == 'b' else
                   (v.encode('ascii') if kind == 's' else v)
                   for (_, kind), v in zip(signature, truth.values(), strict=True))
    row = np.array([values], dtype=dtype).tobytes()
    hdu = TruthHDU.fromstring(header + row + bytes(-len(row) % 2880))
    # fromstring keeps a read-only view of the bytes; give the data a writable
    # buffer so that the HDU can be read, modified and written like any other.
    if isinstance(getattr(hdu, '_buffer', None), bytes) and not hdu._data_loaded:
        hdu._buffer = bytearray(hdu._buffer)
    else:  # pragma: no cover - other astropy internals: take the slow, safe way
        hdu = fits.table_to_hdu(truth_table(truth))
        hdu.name = 'TRUTH'
    return hdu


class TruthHDU(fits.BinTableHDU):
    """
    A `~astropy.io.fits.BinTableHDU` whose data stay in an in-memory buffer
    until used (see `truth_hdu`).

    Writing a not-yet-loaded HDU copies the buffer to the file, and astropy then
    points the HDU's data offsets into that file; they must keep pointing into
    the buffer, where the data still are. (Subclasses outside astropy are never
    used to read files unless registered, so files read back hold plain
    `~astropy.io.fits.BinTableHDU`.)
    """

    def _writeto_internal(self, fileobj, inplace, copy):
        where = (self._header_offset, self._data_offset, self._data_size)
        super()._writeto_internal(fileobj, inplace, copy)
        if self._buffer is not None and not self._data_loaded:
            self._header_offset, self._data_offset, self._data_size = where


def render_galaxy(params, *, size=256, bands='gri', seed=None, noise=True, psf=True,
                  neighbours=True, seeing=None, ra=None, dec=None, conditions=None,
                  base_seed=None, index=None, history=(), extra_header=None, date=None):
    """
    Render one galaxy as a galaxy product.

    Parameters
    ----------
    params : dict or table row
        Galaxy parameters (see `complete_params`; a row of
        `galsynth.simulation.draw_population` has them all).
    size : int, optional
        Stamp size in pixels (square).
    bands : str or sequence of str, optional
        SDSS bands, e.g. ``'gri'``.
    seed : int, optional
        Seed of the rendering (seeing, neighbours, noise); written as
        ``SEED``. Default ``params['seed']`` when present.
    noise : bool, optional
        Add SDSS-like noise (default). `False` gives noiseless images.
    psf : bool, optional
        Convolve with the PSF (default). `False` renders the PSF-free
        profile (pixel-integrated).
    neighbours : bool, optional
        Add neighbouring galaxies and stars (default).
    seeing : float, optional
        r-band PSF FWHM in arcsec (default: ``params['seeing']`` or drawn).
    ra, dec : float, optional
        Sky position of the galaxy (the image centre), degrees (default 0, 0).
    conditions : dict, optional
        Per-band observing conditions (default `SDSS_CONDITIONS`).
    base_seed, index : int, optional
        Seed of the whole request and the galaxy's index in it (provenance).
    history : sequence of str, optional
        Extra ``HISTORY`` lines.
    extra_header : dict, optional
        Extra PRIMARY cards.
    date : str, optional
        Creation date (default now).

    Returns
    -------
    `~astropy.io.fits.HDUList`
        A galaxy product (`galsynth.products`) with ``IVAR_<BAND>`` HDUs and
        the ``TRUTH`` table; ``GENERATR = 'parametric'``; ``REDSHIFT`` is the
        galaxy's redshift; ``GALSMVER`` the GalSim version.
    """
    return _render_galaxy(params, size=size, bands=bands, seed=seed, noise=noise, psf=psf,
                          neighbours=neighbours, seeing=seeing, ra=ra, dec=dec,
                          conditions=conditions, base_seed=base_seed, index=index,
                          history=history, extra_header=extra_header, date=date)[0]


def _render_galaxy(params, *, size, bands, seed, noise, psf, neighbours, seeing, ra, dec,
                   conditions, base_seed, index, history, extra_header, date):
    """`render_galaxy`, also returning the truth dict."""
    import galsim

    if seed is None and 'seed' in _keys(params):
        seed = int(_value(params['seed']))
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    out = render_images(params, size=size, bands=bands, seed=seed, noise=noise, psf=psf,
                        neighbours=neighbours, seeing=seeing, conditions=conditions)
    bands = check_bands(bands)
    truth = out['truth']
    ra = 0.0 if ra is None else float(u.Quantity(ra, u.deg).value)
    dec = 0.0 if dec is None else float(u.Quantity(dec, u.deg).value)
    truth['ra'], truth['dec'] = ra % 360.0, dec
    truth['seed'] = int(seed)
    p = out['params']
    steps = [
        f'galsynth {__version__} parametric simulator (GalSim {galsim.__version__})',
        f'bulge Sersic n={p["bulge_n"]:g} + exponential disk, B/T={p["bulge_to_total"]:.3f}, '
        f'CWW SEDs at z={p["redshift"]:.4f}',
        (f'PSF Moffat beta={PSF_BETA:g}, r-band FWHM {out["seeing"]:.3f} arcsec' if psf
         else 'no PSF (pixel-integrated profile)'),
        (f'neighbours: {truth["n_neighbours"]} galaxies, {truth["n_stars"]} stars'
         if neighbours else 'no neighbours'),
        ('SDSS-like sky + photon + read noise, sky subtracted' if noise else 'noiseless'),
    ]
    header = {'SEEING': (float(truth['seeing']), '[arcsec] r-band PSF FWHM'),
              'NOISE': (bool(noise), 'noise added'),
              'PSF': (bool(psf), 'PSF applied'),
              'NEIGHBRS': (bool(neighbours), 'neighbouring sources added')}
    header.update(extra_header or {})
    hdul = make_galaxy(out['images'], bands=bands, ra=ra, dec=dec, redshift=p['redshift'],
                       generator='parametric', seed=seed, base_seed=base_seed,
                       latent_index=index, ivar=out['ivar'],
                       history=steps + list(history), extra_header=header,
                       software={'GALSMVER': galsim.__version__}, date=date)
    hdul.append(truth_hdu(truth))
    return hdul, truth
