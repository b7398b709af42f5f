# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The galaxy population of the simulator: *which* galaxies are made.

`draw_population` draws bulge + disk galaxies from a flux-limited,
SDSS-main-sample-like population built from published distributions:

* **Cosmology**: `astropy.cosmology.Planck18` (distances, volumes, angular
  scales).
* **Redshift and luminosity**: galaxies fill the comoving volume uniformly
  with the :math:`^{0.1}r`-band Schechter luminosity function of Blanton et
  al. (2003, ApJ 592, 819): :math:`M_* - 5 \\log_{10} h = -20.44`,
  :math:`\\alpha = -1.05` (``h`` of Planck18), and are kept when their
  apparent magnitude (with the K-correction of their SED, see
  `galsynth.simulation.sed`) is brighter than the limit (SDSS main sample:
  :math:`r < 17.77`, Strauss et al. 2002). The joint (z, M) distribution is
  sampled exactly by rejection from the volume-weighted proposal.
* **Red and blue galaxies**: the fraction of red-sequence galaxies rises with
  luminosity; we use a logistic curve that approximates the red fraction of
  Baldry et al. (2004, ApJ 600, 681): ~15% at :math:`M_r = -18`, 50% at
  :math:`-20.6`, ~85% at :math:`-23`.
* **Colours (SEDs)**: red galaxies have E-template bulges (index 0-0.2) and
  disks between E and Sbc (index 0-0.6); blue galaxies have E-Sbc bulges
  and disks whose template index follows a luminosity-dependent normal law
  (Sbc for bright, towards Scd/Im for faint galaxies, mean
  ``1.6 + 0.3 (M + 20.5)``, sigma 0.4). This gives a bimodal colour
  distribution like that of Baldry et al. (2004): in the ``'sdss'`` sample
  rest-frame u-r peaks near 2.3 (red sequence) and 1.5 (blue cloud) --
  Baldry et al. find ~2.5 and ~1.6 near L*; the CWW E template itself has
  u-r = 2.55 -- and observed g-r near 0.93 and 0.53.
* **Bulge-to-total ratio** (observed r band): Beta(4, 2) (mean 0.67) for red
  and Beta(1.2, 5) (mean 0.19) for blue galaxies, a simple description of the
  B/T distributions of SDSS bulge+disk decompositions (e.g. Simard et al.
  2011, ApJS 196, 11; Meert et al. 2015, MNRAS 446, 3943).
* **Bulge Sérsic index**: normal around 4 (sigma 0.6, red) or 2 (sigma 0.7,
  blue), rounded to steps of 0.5 within [1, 6] (GalSim caches one profile per
  index, so rendering stays fast).
* **Sizes**: the circular half-light radius ``r50`` of the whole galaxy
  follows the r-band size-luminosity relations of Shen et al. (2003, MNRAS
  343, 978; eqs. 14-16), the early-type one (``a = 0.60, b = -4.63``) for red
  and the late-type one (``alpha, beta, gamma, M0 = 0.21, 0.53, -1.31,
  -20.52``) for blue galaxies, log-normal scatter
  :math:`\\sigma_{\\ln R} = \\sigma_2 + (\\sigma_1 - \\sigma_2) / (1 +
  10^{-0.8 (M - M_0)})` with ``sigma1, sigma2 = 0.48, 0.25``. The bulge has
  ``bulge_r50 / disk_r50`` log-normal with median 0.4 (red) or 0.15 (blue),
  scatter 0.3 in ln (cf. r_e/h ~ 0.2-0.3, Courteau et al. 1996, MacArthur
  et al. 2003); the two are scaled so that the composite ``r50`` is the drawn
  one.
* **Shapes**: random inclinations (uniform ``cos i``) of oblate bodies seen
  in projection, :math:`q^2 = \\cos^2 i\\,(1 - q_0^2) + q_0^2` (Hubble 1926),
  with intrinsic thickness ``q0 = 0.2`` for disks and ``q0`` uniform in
  [0.4, 0.8] for bulges; position angle uniform.

Conventions of the columns (all in the `~astropy.table.QTable` returned):
``abs_mag_r`` is the :math:`^{0.1}r` absolute magnitude (AB, Planck18,
no ``h`` scaling); ``mag_<band>`` are total apparent AB magnitudes;
``bulge_to_total`` is the bulge's fraction of the observed r-band flux;
``r50`` (arcsec) is the radius of the circle, centred on the galaxy, that
holds half of the PSF-free r-band light (like SDSS's circular-aperture
half-light radii); ``bulge_r50`` and ``disk_r50`` are the circularized
(:math:`\\sqrt{ab}`) half-light radii of the components; ``ellipticity`` is
``1 - q`` with ``q`` the r-band-flux-weighted mean axis ratio of bulge and
disk; ``position_angle`` is the major axis, in degrees east of north.

Galaxy *k* of ``draw_population(n, seed=s)`` depends only on ``(s, k)`` (its
seed is ``galsynth.utils.item_seeds(s, n)[k]``); it is the galaxy that
`galsynth.simulation.simulate` renders as number *k* for the same seed.
"""

import functools
import math

import astropy.units as u
import numpy as np
from astropy.table import QTable
from scipy import optimize, special

from ..bands import BANDS, ZEROPOINT, check_bands
from ..utils.random import item_seeds
from . import sed as _sed

__all__ = [
    'PRESETS',
    'LUMINOSITY_FUNCTION',
    'SIZE_LUMINOSITY',
    'draw_population',
    'draw_galaxy',
    'complete_magnitudes',
    'COLUMNS',
    'galaxy_rng',
    'component_fluxes',
    'half_light_radius',
    'red_fraction',
    'schechter',
    'mean_size',
    'cosmology',
    'fit_gaussian_mixture',
    'bimodality',
]

#: Population presets: redshift range, r-band magnitude limit, absolute
#: magnitude range, and r50 limits (arcsec, or as a fraction of the stamp
#: width for ``r50_stamp_fraction``).
PRESETS = {
    # SDSS main spectroscopic sample (Strauss et al. 2002): r < 17.77.
    'sdss': {'z_range': (0.02, 0.25), 'mag_limit': 17.77, 'abs_mag_range': (-24.0, -16.0),
             'r50_range': (0.0, math.inf), 'r50_stamp_fraction': None},
    # Large, nearby galaxies that fill a good part of the stamp (GAN training):
    # the same population, closer, kept when 0.08 <= r50 / stamp width <= 0.25.
    'training': {'z_range': (0.003, 0.05), 'mag_limit': 17.77,
                 'abs_mag_range': (-24.0, -16.0), 'r50_range': (0.0, math.inf),
                 'r50_stamp_fraction': (0.08, 0.25)},
}

#: Blanton et al. (2003) ^{0.1}r luminosity function (h = 1 units).
LUMINOSITY_FUNCTION = {'m_star_5logh': -20.44, 'alpha': -1.05, 'phi_star_h3': 1.49e-2}

#: Shen et al. (2003) r-band size-luminosity relations (R50 in kpc, H0 = 70).
SIZE_LUMINOSITY = {
    'early': {'a': 0.60, 'b': -4.63},
    'late': {'alpha': 0.21, 'beta': 0.53, 'gamma': -1.31},
    'M0': -20.52, 'sigma1': 0.48, 'sigma2': 0.25,
}

# Red fraction (approximation to Baldry et al. 2004): logistic in M.
_RED_LO, _RED_HI, _RED_M, _RED_W = 0.12, 0.90, -20.6, 0.8
# Blue disk template index: normal with luminosity-dependent mean.
_BLUE_T0, _BLUE_TSLOPE, _BLUE_TSIG = 1.6, 0.3, 0.4
_BETA_BT = {'red': (4.0, 2.0), 'blue': (1.2, 5.0)}
_BULGE_N = {'red': (4.0, 0.6), 'blue': (2.0, 0.7)}
_SIZE_RATIO = {'red': 0.4, 'blue': 0.15}
_SIZE_RATIO_SIG = 0.3
_DISK_Q0 = 0.2
_BULGE_Q0 = (0.4, 0.8)
_BATCH = 64
_MAX_BATCHES = 20000
_N_THETA = 64


# ----------------------------------------------------------------------------
# Cosmology and distributions

@functools.lru_cache(maxsize=1)
def _cosmo_grid():
    from astropy.cosmology import Planck18

    z = np.linspace(0.0, 1.0, 4001)
    zz = np.maximum(z, 1e-5)
    dm = Planck18.distmod(zz).to_value(u.mag)
    kpc = Planck18.kpc_proper_per_arcmin(zz).to_value(u.kpc / u.arcmin) / 60.0
    dvdz = Planck18.differential_comoving_volume(zz).to_value(u.Mpc ** 3 / u.sr)
    return z, dm, kpc, dvdz


def cosmology():
    """
    The cosmology of the simulator.

    Returns
    -------
    `astropy.cosmology.FLRW`
        `astropy.cosmology.Planck18`.
    """
    from astropy.cosmology import Planck18

    return Planck18


def _distmod(z):
    zg, dm, _, _ = _cosmo_grid()
    return np.interp(z, zg, dm)


def _kpc_per_arcsec(z):
    zg, _, kpc, _ = _cosmo_grid()
    return np.interp(z, zg, kpc)


def _m_star():
    return LUMINOSITY_FUNCTION['m_star_5logh'] + 5.0 * np.log10(cosmology().h)


def schechter(abs_mag):
    """
    The Blanton et al. (2003) luminosity function (shape, per magnitude).

    Parameters
    ----------
    abs_mag : float or array
        :math:`^{0.1}r` absolute magnitude (Planck18 ``h``).

    Returns
    -------
    float or array
        :math:`\\phi(M) \\propto 10^{-0.4(\\alpha+1)(M-M_*)}
        \\exp(-10^{-0.4(M-M_*)})`, normalized to 1 at ``M*``.
    """
    x = 10.0 ** (-0.4 * (np.asarray(abs_mag, dtype=float) - _m_star()))
    return x ** (LUMINOSITY_FUNCTION['alpha'] + 1.0) * np.exp(1.0 - x)


@functools.lru_cache(maxsize=8)
def _lf_cdf(m_bright, m_faint):
    m = np.linspace(m_bright, m_faint, 8001)
    pdf = schechter(m)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(m))])
    return m, cdf


def red_fraction(abs_mag):
    """
    Fraction of red-sequence galaxies at a given luminosity.

    A logistic approximation to Baldry et al. (2004):
    ``0.12 + 0.78 / (1 + exp((M + 20.6) / 0.8))``.

    Parameters
    ----------
    abs_mag : float or array
        :math:`^{0.1}r` absolute magnitude.

    Returns
    -------
    float or array
    """
    m = np.asarray(abs_mag, dtype=float)
    return _RED_LO + (_RED_HI - _RED_LO) / (1.0 + np.exp((m - _RED_M) / _RED_W))


def mean_size(abs_mag, kind):
    """
    Shen et al. (2003) median half-light radius and its log-normal scatter.

    Parameters
    ----------
    abs_mag : float or array
        r-band absolute magnitude.
    kind : {'red', 'blue'} or array of those
        Red galaxies follow the early-type, blue ones the late-type relation.

    Returns
    -------
    r50 : `~astropy.units.Quantity`
        Median radius (kpc).
    sigma_ln : float or array
        Scatter of ln(r50).
    """
    m = np.asarray(abs_mag, dtype=float)
    red = np.asarray(kind) == 'red'
    p = SIZE_LUMINOSITY
    m0 = p['M0']
    early = -0.4 * p['early']['a'] * m + p['early']['b']
    lt = p['late']
    late = (-0.4 * lt['alpha'] * m + (lt['beta'] - lt['alpha'])
            * np.log10(1.0 + 10.0 ** (-0.4 * (m - m0))) + lt['gamma'])
    log_r = np.where(red, early, late)
    sigma = p['sigma2'] + (p['sigma1'] - p['sigma2']) / (1.0 + 10.0 ** (-0.8 * (m - m0)))
    return 10.0 ** log_r * u.kpc, sigma


# ----------------------------------------------------------------------------
# Fluxes and radii

def _as_value(x, unit=None):
    if isinstance(x, u.Quantity):
        return np.asarray(x.to_value(unit) if unit is not None else x.value, dtype=float)
    return np.asarray(x, dtype=float)


def component_fluxes(redshift, bulge_sed, disk_sed, bulge_to_total, *, abs_mag_r=None,
                     mag_r=None, bands=BANDS):
    """
    Bulge and disk fluxes in each band.

    Exactly one of ``abs_mag_r`` and ``mag_r`` sets the brightness; the
    colours follow from the two SEDs at the redshift.

    Parameters
    ----------
    redshift : float or array
        Redshift (0 < z <= 1).
    bulge_sed, disk_sed : float or array
        SED template indices (see `galsynth.simulation.sed`).
    bulge_to_total : float or array
        Bulge fraction of the observed r-band flux.
    abs_mag_r : float or array, optional
        :math:`^{0.1}r` absolute magnitude.
    mag_r : float or array, optional
        Total apparent r-band AB magnitude.
    bands : str or sequence of str, optional
        Bands of the returned fluxes.

    Returns
    -------
    bulge, disk : `numpy.ndarray`, shape ``(..., n_bands)``
        Fluxes in nanomaggies.
    abs_mag_r, mag_r : float or `numpy.ndarray`
        Both magnitudes, consistent with each other.
    """
    if (abs_mag_r is None) == (mag_r is None):
        msg = 'give exactly one of abs_mag_r and mag_r'
        raise ValueError(msg)
    z = _as_value(redshift)
    if np.any(z <= 0) or np.any(z > 1):
        msg = f'redshift must be in (0, 1]; got {z}'
        raise ValueError(msg)
    bt = _as_value(bulge_to_total)
    if np.any(bt < 0) or np.any(bt > 1):
        msg = f'bulge_to_total must be in [0, 1]; got {bt}'
        raise ValueError(msg)
    bands = check_bands(bands)
    want = tuple(dict.fromkeys(('r',) + bands))
    gb = _sed.flux_factors(_as_value(bulge_sed), z, want)
    gd = _sed.flux_factors(_as_value(disk_sed), z, want)
    ir = 0
    cols = [want.index(b) for b in bands]
    dm = _distmod(z)
    # Rest-frame luminosity per unit observed r-band flux of the composite.
    k_factor = 1.0 / (bt / gb[..., ir] + (1.0 - bt) / gd[..., ir])
    k_comp = -2.5 * np.log10(k_factor)
    if mag_r is None:
        abs_mag_r = _as_value(abs_mag_r)
        mag_r = abs_mag_r + dm + k_comp
    else:
        mag_r = _as_value(mag_r)
        abs_mag_r = mag_r - dm - k_comp
    f_r = 10.0 ** (-0.4 * (mag_r - ZEROPOINT))
    bulge = (bt * f_r)[..., None] * gb[..., cols] / gb[..., ir:ir + 1]
    disk = ((1.0 - bt) * f_r)[..., None] * gd[..., cols] / gd[..., ir:ir + 1]
    if np.ndim(mag_r) == 0:
        abs_mag_r, mag_r = float(abs_mag_r), float(mag_r)
    return bulge, disk, abs_mag_r, mag_r


@functools.lru_cache(maxsize=256)
def _b_n(n):
    return float(special.gammaincinv(2.0 * n, 0.5))


# Midpoint rule on a quarter turn (the integrand has that symmetry): spectrally accurate.
_THETA = (np.arange(_N_THETA) + 0.5) * (np.pi / 2) / _N_THETA
_COS2, _SIN2 = np.cos(_THETA) ** 2, np.sin(_THETA) ** 2


def _enclosed_fraction(radius, r50s, ns, qs, weights):
    """Fraction of the light of a sum of sheared Sérsic profiles inside a circle."""
    total = 0.0
    for r50, n, q, w in zip(r50s, ns, qs, weights, strict=True):
        if w <= 0:
            continue
        s2 = q * _COS2 + _SIN2 / q
        x = radius * np.sqrt(s2) / r50
        frac = special.gammainc(2.0 * n, _b_n(n) * x ** (1.0 / n))
        total = total + w * np.mean(frac / s2)
    return total


def half_light_radius(bulge_r50, disk_r50, bulge_to_total, *, bulge_q=1.0, disk_q=1.0,
                      bulge_n=4.0):
    """
    Circular-aperture half-light radius of a bulge + exponential disk galaxy.

    Computed exactly (up to quadrature accuracy, ~1e-6) from the PSF-free
    profiles: the light of a sheared Sérsic profile inside a circle of radius
    ``R`` is :math:`\\frac{1}{2\\pi}\\oint F(R s(\\theta)) / s^2(\\theta)\\,
    d\\theta` with :math:`s^2 = q \\cos^2\\theta + \\sin^2\\theta / q` and
    ``F`` the regularized incomplete gamma function of the circular profile.

    Parameters
    ----------
    bulge_r50, disk_r50 : float or `~astropy.units.Quantity`
        Circularized half-light radii of the components (same unit).
    bulge_to_total : float
        Bulge fraction of the flux.
    bulge_q, disk_q : float, optional
        Axis ratios (both components share the centre and position angle).
    bulge_n : float, optional
        Bulge Sérsic index (the disk has n = 1).

    Returns
    -------
    float or `~astropy.units.Quantity`
        Radius of the centred circle holding half of the light, in the unit
        of the inputs.
    """
    unit = bulge_r50.unit if isinstance(bulge_r50, u.Quantity) else None
    rb = float(_as_value(bulge_r50, unit))
    rd = float(_as_value(disk_r50, unit))
    bt = float(bulge_to_total)
    r50s, ns = (rb, rd), (float(bulge_n), 1.0)
    qs, ws = (float(bulge_q), float(disk_q)), (bt, 1.0 - bt)
    if not (0.0 <= bt <= 1.0):
        msg = f'bulge_to_total must be in [0, 1]; got {bt}'
        raise ValueError(msg)
    if (bt > 0 and rb <= 0) or (bt < 1 and rd <= 0):
        msg = f'half-light radii must be positive; got bulge {rb}, disk {rd}'
        raise ValueError(msg)
    hi = 10.0 * max(r for r, w in zip(r50s, ws, strict=True) if w > 0)

    def f(radius):
        return _enclosed_fraction(radius, r50s, ns, qs, ws) - 0.5

    lo = 1e-6 * hi
    while f(hi) < 0:
        hi *= 2.0
    r = optimize.brentq(f, lo, hi, xtol=1e-9 * hi, rtol=1e-10)
    return r * unit if unit is not None else r


# ----------------------------------------------------------------------------
# Drawing

def galaxy_rng(item_seed, stream=0):
    """
    The random generator of one galaxy.

    Parameters
    ----------
    item_seed : int
        The galaxy's seed (``galsynth.utils.item_seeds(seed, n)[k]``).
    stream : int, optional
        0: population parameters; 1: rendering (PSF, neighbours, noise).

    Returns
    -------
    `numpy.random.Generator`
    """
    return np.random.default_rng([int(item_seed), int(stream)])


def _config(preset, *, z_range=None, mag_limit=None, min_r50=None, max_r50=None,
            abs_mag_range=None, stamp_size=None):
    if preset not in PRESETS:
        msg = f'unknown population preset {preset!r}; known: {sorted(PRESETS)}'
        raise ValueError(msg)
    cfg = dict(PRESETS[preset])
    if z_range is not None:
        cfg['z_range'] = tuple(float(z) for z in z_range)
    if mag_limit is not None:
        cfg['mag_limit'] = float(mag_limit)
    if abs_mag_range is not None:
        cfg['abs_mag_range'] = tuple(float(m) for m in abs_mag_range)
    lo, hi = cfg['r50_range']
    if cfg['r50_stamp_fraction'] is not None and stamp_size is not None:
        width = float(_as_value(stamp_size, u.arcsec))
        lo, hi = (f * width for f in cfg['r50_stamp_fraction'])
    if min_r50 is not None:
        lo = float(_as_value(min_r50, u.arcsec))
    if max_r50 is not None:
        hi = float(_as_value(max_r50, u.arcsec))
    cfg['r50_range'] = (lo, hi)
    z0, z1 = cfg['z_range']
    if not 0 < z0 < z1 <= 1.0:
        msg = f'z_range must satisfy 0 < zmin < zmax <= 1; got {cfg["z_range"]}'
        raise ValueError(msg)
    if not lo < hi:
        msg = f'min_r50 ({lo}) must be below max_r50 ({hi})'
        raise ValueError(msg)
    m0, m1 = cfg['abs_mag_range']
    if not m0 < m1:
        msg = f'abs_mag_range must be (bright, faint); got {cfg["abs_mag_range"]}'
        raise ValueError(msg)
    return cfg


@functools.lru_cache(maxsize=1)
def _k_min_grid():
    """Most favourable r-band K-correction over the templates, on the cosmology z grid."""
    zg = _cosmo_grid()[0]
    f = _sed.flux_factors(np.arange(len(_sed.TEMPLATES), dtype=float)[:, None],
                          zg[None, :], 'r')[..., 0]
    return -2.5 * np.log10(f.max(axis=0))


def _m_max(z, cfg):
    """Faintest absolute magnitude that can pass the flux limit at z (any SED)."""
    zg = _cosmo_grid()[0]
    kmin = np.interp(z, zg, _k_min_grid())
    return np.minimum(cfg['mag_limit'] - _distmod(z) - kmin, cfg['abs_mag_range'][1])


@functools.lru_cache(maxsize=16)
def _z_proposal(z0, z1, mag_limit, m_bright, m_faint):
    """Inverse CDF of p(z) ~ dV/dz * N(M < M_max(z)) on [z0, z1]."""
    cfg = {'mag_limit': mag_limit, 'abs_mag_range': (m_bright, m_faint)}
    zg, _, _, dvdz = _cosmo_grid()
    z = np.linspace(z0, z1, 2001)
    mg, cdf = _lf_cdf(m_bright, m_faint)
    weight = np.interp(z, zg, dvdz) * np.interp(_m_max(z, cfg), mg, cdf, left=0.0)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * np.diff(z))])
    if cum[-1] <= 0:
        msg = (f'no galaxy brighter than r = {mag_limit} is possible in '
               f'{z0} <= z <= {z1}')
        raise ValueError(msg)
    return z, cum / cum[-1]


def _candidates(rng, cfg, z_fixed, size):
    m_bright, m_faint = cfg['abs_mag_range']
    if z_fixed is None:
        zq, cq = _z_proposal(*cfg['z_range'], cfg['mag_limit'], m_bright, m_faint)
        z = np.interp(rng.random(size), cq, zq)
    else:
        z = np.full(size, float(z_fixed))
    mg, cdf = _lf_cdf(m_bright, m_faint)
    c_max = np.interp(_m_max(z, cfg), mg, cdf, left=0.0)
    if z_fixed is not None and c_max[0] <= 0:
        msg = (f'no galaxy brighter than r = {cfg["mag_limit"]} is possible at '
               f'z = {z_fixed}')
        raise ValueError(msg)
    abs_mag = np.interp(rng.random(size) * c_max, cdf, mg)
    red = rng.random(size) < red_fraction(abs_mag)
    kind = np.where(red, 'red', 'blue')

    bt = np.where(red, rng.beta(*_BETA_BT['red'], size), rng.beta(*_BETA_BT['blue'], size))
    t_bulge = np.where(red, rng.uniform(0.0, 0.2, size), rng.uniform(0.0, 1.0, size))
    t_blue = rng.normal(_BLUE_T0 + _BLUE_TSLOPE * (abs_mag + 20.5), _BLUE_TSIG, size)
    t_disk = np.where(red, rng.uniform(0.0, 0.6, size), np.clip(t_blue, 1.0, 3.0))
    n_mu = np.where(red, _BULGE_N['red'][0], _BULGE_N['blue'][0])
    n_sig = np.where(red, _BULGE_N['red'][1], _BULGE_N['blue'][1])
    bulge_n = np.clip(np.round(rng.normal(n_mu, n_sig) * 2.0) / 2.0, 1.0, 6.0)
    cos_i = rng.random(size)
    disk_q = np.sqrt(cos_i ** 2 * (1.0 - _DISK_Q0 ** 2) + _DISK_Q0 ** 2)
    q0b = rng.uniform(*_BULGE_Q0, size)
    bulge_q = np.sqrt(cos_i ** 2 * (1.0 - q0b ** 2) + q0b ** 2)
    pa = rng.uniform(0.0, 180.0, size)
    r_med, sig = mean_size(abs_mag, kind)
    r50_kpc = r_med.to_value(u.kpc) * np.exp(sig * rng.standard_normal(size))
    ratio = np.where(red, _SIZE_RATIO['red'], _SIZE_RATIO['blue']) \
        * np.exp(_SIZE_RATIO_SIG * rng.standard_normal(size))

    _, _, _, mag_r = component_fluxes(z, t_bulge, t_disk, bt, abs_mag_r=abs_mag, bands='r')
    r50 = r50_kpc / _kpc_per_arcsec(z)
    lo, hi = cfg['r50_range']
    ok = (mag_r < cfg['mag_limit']) & (r50 >= lo) & (r50 <= hi)
    return ok, {
        'redshift': z, 'abs_mag_r': abs_mag, 'mag_r': mag_r, 'type': kind,
        'bulge_to_total': bt, 'bulge_n': bulge_n, 'r50': r50, 'r50_kpc': r50_kpc,
        'size_ratio': ratio, 'bulge_q': bulge_q, 'disk_q': disk_q, 'position_angle': pa,
        'bulge_sed': t_bulge, 'disk_sed': t_disk,
    }


def draw_galaxy(item_seed, *, preset='sdss', redshift=None, z_range=None, mag_limit=None,
                min_r50=None, max_r50=None, abs_mag_range=None, stamp_size=None):
    """
    Draw the parameters of one galaxy from its own seed.

    Parameters
    ----------
    item_seed : int
        Seed of the galaxy (see `galaxy_rng`).
    preset, redshift, z_range, mag_limit, min_r50, max_r50, abs_mag_range, stamp_size
        See `draw_population`.

    Returns
    -------
    dict
        Column name -> plain float / str (units as in `draw_population`).
    """
    cfg = _config(preset, z_range=z_range, mag_limit=mag_limit, min_r50=min_r50,
                  max_r50=max_r50, abs_mag_range=abs_mag_range, stamp_size=stamp_size)
    rng = galaxy_rng(item_seed, 0)
    for _ in range(_MAX_BATCHES):
        ok, cand = _candidates(rng, cfg, redshift, _BATCH)
        hits = np.flatnonzero(ok)
        if hits.size:
            break
    else:
        msg = (f'no galaxy passed the selection after {_MAX_BATCHES * _BATCH} tries '
               f'({cfg}); relax the limits')
        raise ValueError(msg)
    i = hits[0]
    row = {k: (v[i].item() if hasattr(v[i], 'item') else v[i]) for k, v in cand.items()}
    row['type'] = str(row['type'])
    ratio = row.pop('size_ratio')
    unit_r50 = half_light_radius(ratio, 1.0, row['bulge_to_total'], bulge_q=row['bulge_q'],
                                 disk_q=row['disk_q'], bulge_n=row['bulge_n'])
    row['disk_r50'] = row['r50'] / unit_r50
    row['bulge_r50'] = ratio * row['disk_r50']
    complete_magnitudes(row)
    return row


def complete_magnitudes(row):
    """
    Add ``mag_<band>`` (all bands), rest-frame colours and ellipticity to a row.

    Parameters
    ----------
    row : dict
        Must hold ``redshift``, ``abs_mag_r``, ``bulge_sed``, ``disk_sed``,
        ``bulge_to_total``, ``bulge_q``, ``disk_q``.

    Returns
    -------
    dict
        The same dict, updated.
    """
    z = np.array([row['redshift'], 0.0])
    # Flux factors (band order BANDS) at the redshift (row 0) and at rest (row 1).
    fb = _sed.flux_factors(row['bulge_sed'], z)
    fd = _sed.flux_factors(row['disk_sed'], z)
    ir = BANDS.index('r')
    bt = row['bulge_to_total']
    # Rest-frame ^{0.1}r luminosity fractions of bulge and disk.
    lum_b, lum_d = bt / fb[0, ir], (1.0 - bt) / fd[0, ir]
    lum_b, lum_d = lum_b / (lum_b + lum_d), lum_d / (lum_b + lum_d)
    observed = lum_b * fb[0] + lum_d * fd[0]
    dm = _distmod(row['redshift'])
    for j, band in enumerate(BANDS):
        row[f'mag_{band}'] = float(row['abs_mag_r'] + dm - 2.5 * np.log10(observed[j]))
    # Rest-frame (z = 0) colours: luminosity-weighted mixture of the two SEDs.
    rest = lum_b * fb[1] + lum_d * fd[1]
    iu, ig = BANDS.index('u'), BANDS.index('g')
    row['rest_u_r'] = float(-2.5 * np.log10(rest[iu] / rest[ir]))
    row['rest_g_r'] = float(-2.5 * np.log10(rest[ig] / rest[ir]))
    row['ellipticity'] = float(1.0 - (bt * row['bulge_q'] + (1.0 - bt) * row['disk_q']))
    return row


#: Column order and units of population tables.
COLUMNS = {
    'redshift': None, 'type': None, 'abs_mag_r': u.mag, 'mag_r': u.mag,
    **{f'mag_{b}': u.mag for b in BANDS if b != 'r'},
    'rest_u_r': u.mag, 'rest_g_r': u.mag,
    'r50': u.arcsec, 'r50_kpc': u.kpc, 'bulge_to_total': None, 'bulge_n': None,
    'bulge_r50': u.arcsec, 'disk_r50': u.arcsec, 'bulge_q': None, 'disk_q': None,
    'ellipticity': None, 'position_angle': u.deg, 'bulge_sed': None, 'disk_sed': None,
}


def _to_qtable(rows, seeds):
    table = QTable()
    table['seed'] = np.array(seeds, dtype=np.int64)
    for name, unit in COLUMNS.items():
        values = [r[name] for r in rows]
        if name == 'type':
            table[name] = np.array(values, dtype='U4')
        else:
            col = np.array(values, dtype=float)
            table[name] = col * unit if unit is not None else col
    return table


def draw_population(n, *, seed=None, start=0, preset='sdss', redshift=None, z_range=None,
                    mag_limit=None, min_r50=None, max_r50=None, abs_mag_range=None,
                    stamp_size=None):
    """
    Draw ``n`` galaxies from the population model.

    Parameters
    ----------
    n : int
        Number of galaxies (>= 1).
    seed : int, optional
        Base seed; galaxy *k* uses ``item_seeds(seed, n, start=start)[k]``,
        so it does not depend on ``n``. `None` draws a fresh seed.
    start : int, optional
        Index of the first galaxy.
    preset : {'sdss', 'training'}, optional
        ``'sdss'`` (default): SDSS main-sample-like, ``0.02 <= z <= 0.25``,
        ``r < 17.77``. ``'training'``: the same population at
        ``0.003 <= z <= 0.05``, keeping galaxies whose ``r50`` is 8-25% of
        the stamp width (``stamp_size``), so that they fill the stamp.
    redshift : float, optional
        Put every galaxy at this redshift (the luminosity is then drawn from
        the luminosity function above the flux limit at that redshift).
    z_range : (float, float), optional
        Override the preset's redshift range.
    mag_limit : float, optional
        Override the r-band limit (AB).
    min_r50, max_r50 : float or `~astropy.units.Quantity`, optional
        Keep only galaxies with ``min_r50 <= r50 <= max_r50`` (arcsec).
    abs_mag_range : (float, float), optional
        Bright and faint ends of the luminosity function (default -24, -16).
    stamp_size : float or `~astropy.units.Quantity`, optional
        Stamp width (arcsec) for the ``'training'`` preset's size selection
        (default: 256 SDSS pixels).

    Returns
    -------
    `~astropy.table.QTable`
        One row per galaxy; columns ``seed`` (the galaxy's own seed) and
        those described in the module docstring.

    Raises
    ------
    ValueError
        For bad limits or a selection that no galaxy passes.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        msg = f'n must be a positive integer; got {n!r}'
        raise ValueError(msg)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    if stamp_size is None:
        from ..bands import PIXEL_SCALE
        stamp_size = 256 * PIXEL_SCALE
    seeds = item_seeds(seed, n, start=start)
    rows = [draw_galaxy(s, preset=preset, redshift=redshift, z_range=z_range,
                        mag_limit=mag_limit, min_r50=min_r50, max_r50=max_r50,
                        abs_mag_range=abs_mag_range, stamp_size=stamp_size) for s in seeds]
    table = _to_qtable(rows, seeds)
    table.meta['seed'] = int(seed)
    table.meta['preset'] = preset
    return table


# ----------------------------------------------------------------------------
# Bimodality statistics

def fit_gaussian_mixture(x, k, *, n_iter=500, tol=1e-8):
    """
    Maximum-likelihood 1-D Gaussian mixture by expectation-maximization.

    Deterministic: the means start at the ``(i + 0.5) / k`` quantiles.

    Parameters
    ----------
    x : array-like
        Data (1-D, finite).
    k : int
        Number of components.
    n_iter : int, optional
        Maximum number of EM iterations.
    tol : float, optional
        Stop when the mean log-likelihood improves by less than this.

    Returns
    -------
    dict
        ``weights``, ``means``, ``sigmas`` (arrays of length ``k``),
        ``loglike`` (total log-likelihood) and ``bic`` (Bayesian information
        criterion, ``(3k - 1) ln N - 2 loglike``).
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 3 * k or not np.all(np.isfinite(x)):
        msg = f'need at least {3 * k} finite values; got {x.size}'
        raise ValueError(msg)
    means = np.quantile(x, (np.arange(k) + 0.5) / k)
    sigmas = np.full(k, x.std() / k)
    weights = np.full(k, 1.0 / k)
    floor = 1e-6 * x.std() + 1e-12
    last = -np.inf
    for _ in range(n_iter):
        logp = (np.log(weights) - np.log(sigmas) - 0.5 * np.log(2 * np.pi)
                - 0.5 * ((x[:, None] - means) / sigmas) ** 2)
        lse = np.logaddexp.reduce(logp, axis=1)
        resp = np.exp(logp - lse[:, None])
        nk = resp.sum(axis=0) + 1e-300
        weights = nk / x.size
        means = (resp * x[:, None]).sum(axis=0) / nk
        sigmas = np.sqrt((resp * (x[:, None] - means) ** 2).sum(axis=0) / nk)
        sigmas = np.maximum(sigmas, floor)
        ll = lse.mean()
        if ll - last < tol:
            break
        last = ll
    order = np.argsort(means)
    loglike = float(lse.sum())
    return {'weights': weights[order], 'means': means[order], 'sigmas': sigmas[order],
            'loglike': loglike, 'bic': (3 * k - 1) * np.log(x.size) - 2.0 * loglike}


def bimodality(x):
    """
    How strongly a 1-D sample is bimodal.

    Fits one and two Gaussians (`fit_gaussian_mixture`) and reports the BIC
    improvement of the two-component model and Ashman, Bird & Zepf's (1994)
    separation :math:`D = |\\mu_1 - \\mu_2| / \\sqrt{(\\sigma_1^2 + \\sigma_2^2)/2}`
    (D > 2 is needed for a clean separation of the modes).

    Parameters
    ----------
    x : array-like
        E.g. g - r colours.

    Returns
    -------
    dict
        ``delta_bic`` (BIC(1) - BIC(2); > 10 is very strong evidence for two
        components), ``ashman_d``, and the two-component ``weights``,
        ``means``, ``sigmas``.
    """
    one = fit_gaussian_mixture(x, 1)
    two = fit_gaussian_mixture(x, 2)
    d = abs(two['means'][1] - two['means'][0]) / np.sqrt(0.5 * (two['sigmas'] ** 2).sum())
    return {'delta_bic': float(one['bic'] - two['bic']), 'ashman_d': float(d),
            'weights': two['weights'], 'means': two['means'], 'sigmas': two['sigmas']}
