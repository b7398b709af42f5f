# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Absolute magnitudes and K-corrections.

The apparent magnitude ``m`` of a galaxy at redshift ``z`` relates to its
rest-frame absolute magnitude ``M`` by

.. math::

    M = m - \\mu(z) - K(z),

with :math:`\\mu` the distance modulus of a cosmology (`astropy.cosmology`,
Planck18 by default) and ``K`` the K-correction of the galaxy's spectrum
(Hogg et al. 2002). K-corrections here come from the four Coleman, Wu & Weedman
(1980) template spectra shipped with GalSim (E, Sbc, Scd, Im, extended by
Bolzonella et al. 2000), held as `specutils.Spectrum` objects, redshifted and
integrated through the speclite SDSS filter curves; the template is chosen by
the galaxy's *observed* colour (``g - r`` by default), interpolating between
the two templates that bracket it.

`hubble_law_absolute_magnitude` keeps the simple Hubble-law formula of the
method galsynth starts from, with the distance constant corrected (see its
docstring): it is for comparison only.
"""

import functools
import math

import astropy.units as u
import numpy as np
from astropy.cosmology import Planck18

from .bands import check_bands, get_filter

__all__ = [
    'TEMPLATES',
    'HUBBLE_DISTANCE_PC',
    'METHOD_HUBBLE_DISTANCE_PC',
    'load_template',
    'redshift_spectrum',
    'template_magnitudes',
    'template_kcorrection',
    'template_color',
    'kcorrection',
    'distance_modulus',
    'absolute_magnitude',
    'hubble_law_absolute_magnitude',
]

#: CWW template names, red (elliptical) to blue (irregular).
TEMPLATES = ('E', 'Sbc', 'Scd', 'Im')

#: Hubble distance c / H0 in parsec for H0 = 70 km/s/Mpc (4283 Mpc), rounded as in the
#: method's formula: the distance of a galaxy at small redshift ``z`` is ``4.28e9 * z`` pc.
HUBBLE_DISTANCE_PC = 4.28e9

#: The constant of the method's formula ``M = m - 5 log10(4.28e8 z) + 5``: ten times too
#: small, which makes every absolute magnitude 5 mag too faint.
METHOD_HUBBLE_DISTANCE_PC = 4.28e8

_FLAM = u.erg / (u.s * u.cm**2 * u.AA)

#: Redshift grid used by the colour-chosen K-corrections (linear interpolation on it
#: is accurate to better than 1e-4 mag).
_Z_GRID_STEP = 0.002
_Z_GRID_MAX = 1.0


def _template_path(name):
    import galsim

    if name not in TEMPLATES:
        msg = f'unknown template {name!r}; known templates are {TEMPLATES}'
        raise ValueError(msg)
    return f'{galsim.meta_data.share_dir}/SEDs/CWW_{name}_ext.sed'


@functools.cache
def _template_arrays(name):
    wave, flux = np.loadtxt(_template_path(name), unpack=True, comments='#')
    return wave, flux


def load_template(name):
    """
    A rest-frame CWW template spectrum.

    Parameters
    ----------
    name : {'E', 'Sbc', 'Scd', 'Im'}
        Template name (see `TEMPLATES`).

    Returns
    -------
    `specutils.Spectrum`
        Rest-frame flux density per unit wavelength (arbitrary normalization,
        erg/s/cm²/Å), on the template's wavelength grid in Angstrom
        (91 Å to 2.2 µm).
    """
    from specutils import Spectrum

    wave, flux = _template_arrays(name)
    return Spectrum(flux=flux * _FLAM, spectral_axis=wave * u.AA)


def redshift_spectrum(spectrum, z):
    """
    The spectrum a source of rest-frame spectrum ``spectrum`` shows at redshift ``z``.

    Wavelengths are stretched by ``1 + z`` and the flux density per unit
    wavelength divided by ``1 + z`` (bolometric flux conserved; no distance
    dimming, which the distance modulus carries).

    Parameters
    ----------
    spectrum : `specutils.Spectrum`
        Rest-frame spectrum.
    z : float
        Redshift (>= 0).

    Returns
    -------
    `specutils.Spectrum`
    """
    from specutils import Spectrum

    z = float(z)
    if not z >= 0:
        msg = f'redshift must be >= 0; got {z}'
        raise ValueError(msg)
    return Spectrum(flux=spectrum.flux / (1.0 + z),
                    spectral_axis=spectrum.spectral_axis * (1.0 + z))


def _ab_magnitude(spectrum, band):
    filt = get_filter(band)
    return float(filt.get_ab_magnitude(spectrum.flux, spectrum.spectral_axis))


def template_magnitudes(name, z, *, bands='ugriz'):
    """
    Observed-frame AB magnitudes of a template at redshift ``z``.

    Parameters
    ----------
    name : str
        Template name (see `TEMPLATES`).
    z : float
        Redshift.
    bands : str or sequence of str, optional
        SDSS bands.

    Returns
    -------
    dict
        ``{band: magnitude}`` for the template's arbitrary normalization (only
        differences between bands or redshifts are meaningful).
    """
    spec = redshift_spectrum(load_template(name), z)
    return {b: _ab_magnitude(spec, b) for b in check_bands(bands)}


def template_kcorrection(name, z, *, band='r'):
    """
    K-correction of a template, from a band to the same band at rest.

    ``K(z) = m_band(template at z) - m_band(template at rest)``, the ``K_QQ``
    of Hogg et al. (2002) in AB magnitudes.

    Parameters
    ----------
    name : str
        Template name (see `TEMPLATES`).
    z : float or array-like
        Redshift(s).
    band : str, optional
        SDSS band.

    Returns
    -------
    float or `numpy.ndarray`
        K-correction(s) in magnitudes (no unit).
    """
    (band,) = check_bands(band)
    rest = load_template(name)
    m0 = _ab_magnitude(rest, band)
    zs = np.atleast_1d(np.asarray(z, dtype=float))
    k = np.array([_ab_magnitude(redshift_spectrum(rest, zi), band) - m0 for zi in zs])
    return float(k[0]) if np.ndim(z) == 0 else k.reshape(np.shape(z))


def template_color(name, z, *, bands=('g', 'r')):
    """
    Observed colour of a template at redshift ``z``.

    Parameters
    ----------
    name : str
        Template name (see `TEMPLATES`).
    z : float
        Redshift.
    bands : pair of str, optional
        The colour ``bands[0] - bands[1]``.

    Returns
    -------
    float
        Colour in magnitudes.
    """
    b1, b2 = check_bands(bands)
    mags = template_magnitudes(name, z, bands=(b1, b2))
    return mags[b1] - mags[b2]


def _observed_ab_mags(spectrum, zs, band):
    """AB magnitudes of ``spectrum`` redshifted to each of ``zs``, in one speclite call."""
    filt = get_filter(band)
    wave_obs = np.arange(filt.wavelength[0], filt.wavelength[-1] + 1.0, 1.0)
    wave_rest = np.asarray(spectrum.spectral_axis.to_value(u.AA))
    flux_rest = np.asarray(spectrum.flux.to_value(_FLAM))
    zs = np.asarray(zs, dtype=float)
    flux = np.stack([np.interp(wave_obs / (1.0 + z), wave_rest, flux_rest, left=0.0, right=0.0)
                     / (1.0 + z) for z in zs])
    maggies = filt.get_ab_maggies(flux * _FLAM, wave_obs * u.AA)
    return -2.5 * np.log10(np.asarray(maggies, dtype=float))


@functools.cache
def _kcorr_grid(band, color_bands):
    """Redshift grid, K (n_templates, n_z) and observed colours (n_templates, n_z)."""
    zgrid = np.arange(0.0, _Z_GRID_MAX + _Z_GRID_STEP / 2, _Z_GRID_STEP)
    b1, b2 = color_bands
    kgrid = np.empty((len(TEMPLATES), zgrid.size))
    cgrid = np.empty((len(TEMPLATES), zgrid.size))
    for i, name in enumerate(TEMPLATES):
        rest = load_template(name)
        mags = _observed_ab_mags(rest, zgrid, band)
        kgrid[i] = mags - mags[0]
        cgrid[i] = _observed_ab_mags(rest, zgrid, b1) - _observed_ab_mags(rest, zgrid, b2)
    return zgrid, kgrid, cgrid


def _mag_values(value, name):
    """Strip magnitudes (plain numbers, or a Quantity in mag, ABmag or dimensionless)."""
    if isinstance(value, u.Quantity):
        unit = value.unit
        if not (unit == u.mag or unit.physical_type == 'dimensionless'
                or isinstance(unit, u.MagUnit)):
            msg = f'{name} must be in magnitudes; got unit {unit}'
            raise u.UnitsError(msg)
        return np.asanyarray(value.value, dtype=float), True
    return np.asanyarray(value, dtype=float), False


def kcorrection(z, *, band='r', color=None, color_bands=('g', 'r'), template=None,
                method='interpolate'):
    """
    K-correction from the CWW templates, the template chosen by the observed colour.

    Parameters
    ----------
    z : float or array-like
        Redshift(s), 0 <= z <= 1.
    band : str, optional
        The band to correct (observed band -> the same band at rest).
    color : float, array-like or `~astropy.units.Quantity`, optional
        Observed colour ``color_bands[0] - color_bands[1]`` (e.g. ``g - r``),
        broadcast against ``z``. Required unless ``template`` is given.
    color_bands : pair of str, optional
        The bands of ``color``.
    template : str, optional
        Use this template (see `TEMPLATES`) for every galaxy instead of
        choosing by colour.
    method : {'interpolate', 'nearest'}, optional
        ``'interpolate'`` (default): K interpolated linearly in colour between
        the two templates whose observed colours at ``z`` bracket the galaxy's
        (clamped to the reddest / bluest template outside their range);
        ``'nearest'``: K of the template nearest in colour.

    Returns
    -------
    float or `numpy.ndarray`
        K-correction(s) in magnitudes; NaN where ``z`` or ``color`` is NaN.

    Raises
    ------
    ValueError
        For a redshift outside [0, 1], a missing colour, or an unknown
        template or method.
    """
    (band,) = check_bands(band)
    color_bands = check_bands(color_bands)
    if len(color_bands) != 2:
        msg = f'color_bands must name two bands; got {color_bands}'
        raise ValueError(msg)
    if method not in ('interpolate', 'nearest'):
        msg = f"method must be 'interpolate' or 'nearest'; got {method!r}"
        raise ValueError(msg)
    zv = np.asanyarray(u.Quantity(z, u.dimensionless_unscaled).value, dtype=float)
    finite_z = zv[np.isfinite(zv)]
    if finite_z.size and (finite_z.min() < 0 or finite_z.max() > _Z_GRID_MAX):
        msg = (f'redshift must lie in [0, {_Z_GRID_MAX}] for the CWW K-corrections; '
               f'got {finite_z.min()} to {finite_z.max()}')
        raise ValueError(msg)
    zgrid, kgrid, cgrid = _kcorr_grid(band, color_bands)
    zc = np.clip(np.nan_to_num(zv, nan=0.0), 0.0, _Z_GRID_MAX)
    k_t = np.stack([np.interp(zc, zgrid, kgrid[i]) for i in range(len(TEMPLATES))])
    if template is not None:
        if template not in TEMPLATES:
            msg = f'unknown template {template!r}; known templates are {TEMPLATES}'
            raise ValueError(msg)
        k = k_t[TEMPLATES.index(template)]
        k = np.where(np.isfinite(zv), k, np.nan)
        return float(k) if np.ndim(k) == 0 else k
    if color is None:
        msg = 'kcorrection needs the observed colour (color=...) or a template (template=...)'
        raise ValueError(msg)
    cv, _ = _mag_values(color, 'color')
    zc, cv = np.broadcast_arrays(zc, cv)
    good = np.broadcast_to(np.isfinite(zv), zc.shape) & np.isfinite(cv)
    flat_z, flat_c = zc.ravel(), np.nan_to_num(cv.ravel())
    k_t = np.stack([np.interp(flat_z, zgrid, kgrid[i]) for i in range(len(TEMPLATES))])
    c_t = np.stack([np.interp(flat_z, zgrid, cgrid[i]) for i in range(len(TEMPLATES))])
    if method == 'nearest':
        idx = np.argmin(np.abs(c_t - flat_c[None]), axis=0)
        k = np.take_along_axis(k_t, idx[None], axis=0)[0]
    else:
        # Sort the templates by their observed colour at each redshift, find the
        # bracketing pair and interpolate linearly; clamp outside the range.
        order = np.argsort(c_t, axis=0)
        cs = np.take_along_axis(c_t, order, axis=0)
        ks = np.take_along_axis(k_t, order, axis=0)
        n_t = len(TEMPLATES)
        j = np.clip(np.sum(cs < flat_c[None], axis=0), 1, n_t - 1)
        cols = np.arange(flat_c.size)
        c_lo, c_hi = cs[j - 1, cols], cs[j, cols]
        k_lo, k_hi = ks[j - 1, cols], ks[j, cols]
        w = np.clip((flat_c - c_lo) / (c_hi - c_lo), 0.0, 1.0)
        k = k_lo + w * (k_hi - k_lo)
    out = np.where(good.ravel(), k, np.nan).reshape(zc.shape)
    return float(out) if out.ndim == 0 else out


_kcorrection = kcorrection  # reachable where an argument shadows the name


def distance_modulus(z, *, cosmology=Planck18):
    """
    Distance modulus ``5 log10(D_L / 10 pc)``.

    Parameters
    ----------
    z : float or array-like
        Redshift(s) > 0.
    cosmology : `~astropy.cosmology.FLRW`, optional
        Default Planck18.

    Returns
    -------
    `~astropy.units.Quantity`
        In ``u.mag``.
    """
    zv = np.asanyarray(u.Quantity(z, u.dimensionless_unscaled).value, dtype=float)
    return cosmology.distmod(zv)


def absolute_magnitude(m, z, *, cosmology=Planck18, kcorrection=None, band='r', color=None,
                       color_bands=('g', 'r')):
    """
    Rest-frame absolute magnitude ``M = m - DM(z) - K``.

    Parameters
    ----------
    m : float, array-like or `~astropy.units.Quantity`
        Apparent AB magnitude(s).
    z : float or array-like
        Redshift(s) > 0 (broadcast against ``m``).
    cosmology : `~astropy.cosmology.FLRW`, optional
        Cosmology of the distance modulus (default Planck18).
    kcorrection : None, 'template', float, array-like or `~astropy.units.Quantity`, optional
        The K-correction: `None` (default) for none (``M = m - DM``);
        ``'template'`` to compute it with `galsynth.physics.kcorrection`
        from the observed colour ``color`` (``color_bands[0] - color_bands[1]``)
        in ``band``; or given values (magnitudes).
    band : str, optional
        Band of ``m`` (used with ``kcorrection='template'``).
    color : float, array-like or `~astropy.units.Quantity`, optional
        Observed colour for ``kcorrection='template'``.
    color_bands : pair of str, optional
        Bands of ``color``.

    Returns
    -------
    float, `numpy.ndarray` or `~astropy.units.Quantity`
        Absolute magnitude(s): a Quantity in ``u.mag`` when ``m`` is a
        Quantity, plain numbers otherwise. NaN where ``m`` is NaN.

    Examples
    --------
    >>> from galsynth.physics import absolute_magnitude
    >>> round(absolute_magnitude(17.0, 0.05), 3)
    -19.808
    """
    mv, is_q = _mag_values(m, 'm')
    zv = np.asanyarray(u.Quantity(z, u.dimensionless_unscaled).value, dtype=float)
    if np.any(zv[np.isfinite(zv)] <= 0):
        msg = 'redshift must be > 0 for an absolute magnitude'
        raise ValueError(msg)
    dm = np.asanyarray(distance_modulus(zv, cosmology=cosmology).to_value(u.mag))
    if kcorrection is None:
        k = 0.0
    elif isinstance(kcorrection, str):
        if kcorrection != 'template':
            msg = f"kcorrection must be None, 'template' or values; got {kcorrection!r}"
            raise ValueError(msg)
        k = _kcorrection(zv, band=band, color=color, color_bands=color_bands)
    else:
        k, _ = _mag_values(kcorrection, 'kcorrection')
    out = mv - dm - k
    if np.ndim(out) == 0:
        out = float(out)
    return out * u.mag if is_q else out


def hubble_law_absolute_magnitude(m, z, *, distance_per_z=HUBBLE_DISTANCE_PC):
    """
    The method's low-redshift formula ``M = m - 5 log10(d / pc) + 5`` with ``d = c z / H0``.

    With ``H0 = 70 km/s/Mpc`` the Hubble distance ``c / H0`` is 4283 Mpc,
    so ``d = 4.28e9 z`` pc. The method wrote ``4.28e8``, which makes every
    absolute magnitude **5 mag too faint**; pass
    ``distance_per_z=METHOD_HUBBLE_DISTANCE_PC`` to reproduce its numbers.
    The Hubble law ignores cosmology and K-corrections: at ``z = 0.03``
    it gives a distance modulus of 35.54 against Planck18's 35.67. Use
    `absolute_magnitude` for science.

    Parameters
    ----------
    m : float, array-like or `~astropy.units.Quantity`
        Apparent magnitude(s).
    z : float or array-like
        Redshift(s) > 0.
    distance_per_z : float, optional
        Distance in parsec per unit redshift (default `HUBBLE_DISTANCE_PC`).

    Returns
    -------
    float, `numpy.ndarray` or `~astropy.units.Quantity`
        Absolute magnitude(s) (a Quantity in ``u.mag`` when ``m`` is one).

    Examples
    --------
    >>> from galsynth.physics import (hubble_law_absolute_magnitude,
    ...                               METHOD_HUBBLE_DISTANCE_PC)
    >>> round(hubble_law_absolute_magnitude(17.0, 0.05), 3)
    -19.652
    >>> round(hubble_law_absolute_magnitude(17.0, 0.05,
    ...                                     distance_per_z=METHOD_HUBBLE_DISTANCE_PC), 3)
    -14.652
    """
    mv, is_q = _mag_values(m, 'm')
    zv = np.asanyarray(u.Quantity(z, u.dimensionless_unscaled).value, dtype=float)
    if np.any(zv[np.isfinite(zv)] <= 0):
        msg = 'redshift must be > 0 for an absolute magnitude'
        raise ValueError(msg)
    if not (math.isfinite(distance_per_z) and distance_per_z > 0):
        msg = f'distance_per_z must be a positive number of parsecs; got {distance_per_z}'
        raise ValueError(msg)
    out = mv - 5.0 * np.log10(distance_per_z * zv) + 5.0
    if np.ndim(out) == 0:
        out = float(out)
    return out * u.mag if is_q else out
