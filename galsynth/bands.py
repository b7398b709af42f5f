# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SDSS bands, pixel scale and flux units.

galsynth images are in **nanomaggies**, the SDSS linear flux unit: a source of
1 nanomaggy has AB magnitude 22.5, i.e. ``m = 22.5 - 2.5 log10(f / nanomaggy)``
and 1 nanomaggy = 3.631 µJy. Filter transmission curves are speclite's
``sdss2010-<band>`` curves (Doi et al. 2010, for a point source at airmass 1.3).
"""

import functools

import astropy.units as u
import numpy as np

__all__ = [
    'BANDS',
    'PIXEL_SCALE',
    'ZEROPOINT',
    'nanomaggy',
    'check_bands',
    'flux_to_mag',
    'mag_to_flux',
    'flux_err_to_mag_err',
    'get_filter',
    'get_filters',
    'galsim_bandpass',
    'effective_wavelength',
]

#: The SDSS bands galsynth knows, blue to red.
BANDS = ('u', 'g', 'r', 'i', 'z')

#: SDSS imaging pixel scale.
PIXEL_SCALE = 0.396127 * u.arcsec

#: AB magnitude of a flux of one nanomaggy.
ZEROPOINT = 22.5

#: The SDSS nanomaggy: 1e-9 of the AB reference flux (3631 Jy).
#: (astropy's photometric unit ``u.nanomaggy``: maggies are flux ratios to the AB
#: reference, so 1 nanomaggy corresponds to 3.631e-6 Jy).
nanomaggy = u.nanomaggy


def check_bands(bands):
    """
    Normalize and validate a band selection.

    Parameters
    ----------
    bands : str or sequence of str
        E.g. ``'gri'`` or ``['g', 'r', 'i']`` (case-insensitive).

    Returns
    -------
    bands : tuple of str
        Lower-case band letters in the order given.

    Raises
    ------
    ValueError
        For an empty selection, an unknown band or a repeated band.
    """
    if isinstance(bands, str):
        bands = tuple(bands)
    bands = tuple(str(b).strip().lower() for b in bands)
    if not bands:
        msg = 'no bands given'
        raise ValueError(msg)
    unknown = [b for b in bands if b not in BANDS]
    if unknown:
        msg = f'unknown band(s) {unknown!r}; known bands are {"".join(BANDS)!r}'
        raise ValueError(msg)
    if len(set(bands)) != len(bands):
        msg = f'repeated band in {"".join(bands)!r}'
        raise ValueError(msg)
    return bands


def _strip(value, unit):
    if isinstance(value, u.Quantity):
        return value.to_value(unit), True
    return np.asanyarray(value, dtype=float), False


def flux_to_mag(flux, *, zeropoint=ZEROPOINT):
    """
    Convert a flux in nanomaggies to an AB magnitude.

    Parameters
    ----------
    flux : float, array or `~astropy.units.Quantity`
        Flux; a Quantity may be in any spectral flux density unit. Plain
        numbers are taken to be nanomaggies.
    zeropoint : float, optional
        Magnitude of unit flux (22.5 for nanomaggies).

    Returns
    -------
    mag : float, array or `~astropy.units.Quantity`
        AB magnitude (``u.mag`` when the input was a Quantity). Non-positive
        fluxes give NaN.
    """
    f, is_q = _strip(flux, nanomaggy)
    with np.errstate(divide='ignore', invalid='ignore'):
        m = np.where(f > 0, zeropoint - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)
    if np.ndim(m) == 0:
        m = float(m)
    return m * u.mag if is_q else m


def mag_to_flux(mag, *, zeropoint=ZEROPOINT):
    """
    Convert an AB magnitude to a flux in nanomaggies.

    Parameters
    ----------
    mag : float, array or `~astropy.units.Quantity`
        AB magnitude (``u.mag`` or `~astropy.units.ABmag` accepted).
    zeropoint : float, optional
        Magnitude of unit flux.

    Returns
    -------
    flux : float, array or `~astropy.units.Quantity`
        Nanomaggies (a Quantity in `nanomaggy` when the input was a Quantity).
    """
    if isinstance(mag, u.Quantity):
        m = np.asanyarray(mag.value, dtype=float)
        is_q = True
    else:
        m, is_q = np.asanyarray(mag, dtype=float), False
    f = 10.0 ** (-0.4 * (m - zeropoint))
    if np.ndim(f) == 0:
        f = float(f)
    return f * nanomaggy if is_q else f


def flux_err_to_mag_err(flux, flux_err):
    """
    First-order magnitude error ``2.5 / ln(10) * flux_err / flux``.

    Parameters
    ----------
    flux, flux_err : float, array or `~astropy.units.Quantity`
        Flux and its 1-sigma error, in the same unit.

    Returns
    -------
    mag_err : float or array
        Magnitude error (NaN where the flux is not positive).
    """
    f, _ = _strip(flux, nanomaggy)
    e, _ = _strip(flux_err, nanomaggy)
    with np.errstate(divide='ignore', invalid='ignore'):
        err = np.where(f > 0, 2.5 / np.log(10.0) * e / np.where(f > 0, f, 1.0), np.nan)
    return float(err) if np.ndim(err) == 0 else err


@functools.cache
def get_filter(band):
    """
    The speclite response curve of an SDSS band.

    Parameters
    ----------
    band : str
        One of ``'ugriz'``.

    Returns
    -------
    `speclite.filters.FilterResponse`
    """
    import speclite.filters

    (band,) = check_bands(band)
    return speclite.filters.load_filter(f'sdss2010-{band}')


def get_filters(bands):
    """
    A `speclite.filters.FilterSequence` for several bands.

    Parameters
    ----------
    bands : str or sequence of str

    Returns
    -------
    `speclite.filters.FilterSequence`
    """
    import speclite.filters

    return speclite.filters.FilterSequence([get_filter(b) for b in check_bands(bands)])


@functools.cache
def galsim_bandpass(band):
    """
    A `galsim.Bandpass` from the speclite curve, with an AB zero point.

    Parameters
    ----------
    band : str

    Returns
    -------
    `galsim.Bandpass`
        Wavelengths in nm; ``zeropoint`` set so that
        ``sed.calculateMagnitude(bandpass)`` is an AB magnitude.
    """
    import galsim

    filt = get_filter(band)
    wave_nm = np.asarray(filt.wavelength) / 10.0  # speclite wavelengths are in Angstrom
    resp = np.asarray(filt.response, dtype=float)
    table = galsim.LookupTable(wave_nm, resp, interpolant='linear')
    bp = galsim.Bandpass(table, wave_type='nm').thin(rel_err=1e-4)
    return bp.withZeropoint('AB')


def effective_wavelength(band):
    """
    Effective wavelength of an SDSS band (speclite's definition).

    Parameters
    ----------
    band : str

    Returns
    -------
    `~astropy.units.Quantity`
        In Angstrom.
    """
    return get_filter(band).effective_wavelength.to(u.AA)
