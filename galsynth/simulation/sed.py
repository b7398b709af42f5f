# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Galaxy spectral energy distributions and the colours they give in the SDSS bands.

The simulator colours its galaxies with the four empirical templates of
Coleman, Wu & Weedman (1980, ApJS 43, 393), extended to the UV and IR by
Bolzonella, Miralles & Pelló (2000), as shipped with GalSim in
``share/SEDs/CWW_*_ext.sed``: ``E`` (elliptical), ``Sbc``, ``Scd`` and ``Im``
(irregular). A *template index* ``t`` in ``[0, 3]`` runs along this sequence
(``t = 0`` is E, 1 Sbc, 2 Scd, 3 Im); a fractional index is the linear
mixture of the two neighbouring templates, each normalized to the same
rest-frame :math:`^{0.1}r` luminosity, so colours vary continuously.

Absolute magnitudes are in the :math:`^{0.1}r` band of Blanton et al. (2003):
the SDSS r filter blueshifted to ``z = 0.1``. For a template observed at
redshift ``z`` in band ``b``, the K-correction (Hogg et al. 2002, eq. 8, AB
system) is

.. math::

    K_b(z) = m_b(z) - M_{^{0.1}r} - {\\rm DM}(z)
           = m^{\\rm GS}_b(z) - m^{\\rm GS}_r(0.1) - 2.5 \\log_{10}(1.1),

where :math:`m^{\\rm GS}_b(z)` is the AB magnitude of the GalSim SED
``sed.atRedshift(z)`` through `galsynth.bands.galsim_bandpass` (GalSim
redshifts an SED by stretching its photon density, which is the physical
transformation up to the distance normalization). At ``z = 0.1`` in the r
band the K-correction is :math:`-2.5 \\log_{10} 1.1` for every SED (Blanton &
Roweis 2007).

To keep rendering fast the band integrals are tabulated once per process on a
redshift grid (`KCorrectionTable`, 0 <= z <= 1) and interpolated linearly;
`template_magnitude` computes them directly with GalSim, for checks.
"""

import functools
import os

import numpy as np

from ..bands import BANDS, check_bands, galsim_bandpass

__all__ = [
    'TEMPLATES',
    'REFERENCE_REDSHIFT',
    'KCorrectionTable',
    'template_sed',
    'mixed_sed',
    'template_magnitude',
    'kcorrection_table',
    'flux_factors',
    'kcorrection',
    'rest_frame_colour',
]

#: The CWW template names, in the order of the template index.
TEMPLATES = ('E', 'Sbc', 'Scd', 'Im')

#: Redshift to which the reference band of absolute magnitudes is shifted (^{0.1}r).
REFERENCE_REDSHIFT = 0.1

_Z_MAX = 1.0
_DZ = 0.0025
_DWAVE_NM = 1.0


@functools.cache
def template_sed(name):
    """
    A CWW template SED from GalSim's ``share/SEDs`` folder.

    Parameters
    ----------
    name : str
        One of `TEMPLATES`.

    Returns
    -------
    `galsim.SED`
        Rest frame, wavelengths in nm, arbitrary normalization.
    """
    import galsim

    if name not in TEMPLATES:
        msg = f'unknown SED template {name!r}; known: {TEMPLATES}'
        raise ValueError(msg)
    path = os.path.join(galsim.meta_data.share_dir, 'SEDs', f'CWW_{name}_ext.sed')
    return galsim.SED(path, wave_type='Ang', flux_type='flambda')


def _check_index(index):
    index = np.asarray(index, dtype=float)
    # (NaN fails both comparisons)
    if index.size and not (index.min() >= 0 and index.max() <= len(TEMPLATES) - 1):
        msg = f'SED template index must be in [0, {len(TEMPLATES) - 1}]; got {index}'
        raise ValueError(msg)
    return index


def _split_index(index):
    lo = np.minimum(np.floor(index).astype(int), len(TEMPLATES) - 2)
    return lo, index - lo


def mixed_sed(index):
    """
    The SED of a (fractional) template index as a GalSim SED.

    The two neighbouring templates are normalized to the same rest-frame
    :math:`^{0.1}r` flux and mixed linearly, as in the tabulated colours.

    Parameters
    ----------
    index : float
        Template index in ``[0, 3]``.

    Returns
    -------
    `galsim.SED`
        Rest frame; normalized so that its :math:`^{0.1}r` magnitude
        (r-band magnitude at ``z = 0.1`` plus :math:`2.5 \\log_{10} 1.1`) is 0.
    """
    index = float(_check_index(index))
    lo, w = _split_index(index)
    bp = galsim_bandpass('r')
    seds = []
    for name in (TEMPLATES[lo], TEMPLATES[lo + 1]):
        sed = template_sed(name)
        m01 = sed.atRedshift(REFERENCE_REDSHIFT).calculateMagnitude(bp) + 2.5 * np.log10(1.1)
        seds.append(sed * 10.0 ** (0.4 * m01))
    return seds[0] * (1.0 - w) + seds[1] * w


def template_magnitude(name, z, band):
    """
    AB magnitude of a template observed at redshift ``z``, computed by GalSim.

    Parameters
    ----------
    name : str
        Template name (see `TEMPLATES`).
    z : float
        Redshift.
    band : str
        SDSS band.

    Returns
    -------
    float
        ``template_sed(name).atRedshift(z).calculateMagnitude(bandpass)``
        (arbitrary normalization: only differences are meaningful).
    """
    return template_sed(name).atRedshift(z).calculateMagnitude(galsim_bandpass(band))


class KCorrectionTable:
    """
    Tabulated K-corrections of the CWW templates in the SDSS bands.

    Attributes
    ----------
    redshift : `numpy.ndarray`, shape ``(nz,)``
        The redshift grid (0 to 1 in steps of 0.0025).
    factor : `numpy.ndarray`, shape ``(n_templates, 5, nz)``
        :math:`10^{-0.4 K_b(z)}`: the observed flux in band ``b`` (order
        `galsynth.bands.BANDS`) of a galaxy of unit :math:`^{0.1}r`
        luminosity, relative to the flux it would have without
        K-correction. Fractional template indices interpolate this linearly.
    rest_mag : `numpy.ndarray`, shape ``(n_templates, 5)``
        Rest-frame (``z = 0``) AB magnitudes minus the :math:`^{0.1}r`
        magnitude, per template and band (rest-frame colours).

    Notes
    -----
    The band integrals are done here with numpy on a 1 nm grid (the CWW
    templates are sampled far more coarsely), evaluating the GalSim SEDs and
    bandpasses; they agree with GalSim's own ``calculateMagnitude`` to
    < 1e-3 mag (see the tests).
    """

    def __init__(self):
        self.redshift = np.arange(0.0, _Z_MAX + _DZ / 2, _DZ)
        nt, nb, nz = len(TEMPLATES), len(BANDS), len(self.redshift)
        mags = np.empty((nt, nb, nz))
        ref = np.empty(nt)
        rest = np.empty((nt, nb))
        for i, name in enumerate(TEMPLATES):
            sed = template_sed(name)
            for j, band in enumerate(BANDS):
                mags[i, j] = self._magnitudes(sed, band, self.redshift)
                rest[i, j] = mags[i, j, 0]
            ref[i] = self._magnitudes(sed, 'r', np.array([REFERENCE_REDSHIFT]))[0] \
                + 2.5 * np.log10(1.0 + REFERENCE_REDSHIFT)
        self.kcorr = mags - ref[:, None, None]
        self.factor = 10.0 ** (-0.4 * self.kcorr)
        self.rest_mag = rest - ref[:, None]

    @staticmethod
    def _magnitudes(sed, band, z):
        bp = galsim_bandpass(band)
        wave = np.arange(bp.blue_limit, bp.red_limit + _DWAVE_NM / 2, _DWAVE_NM)
        resp = bp(wave)
        # Photon density of the redshifted SED: the rest-frame density at lambda / (1 + z).
        dens = sed(wave[None, :] / (1.0 + z[:, None]))
        flux = np.trapezoid(dens * resp[None, :], wave, axis=1)
        return -2.5 * np.log10(flux) + bp.zeropoint

    def interpolate(self, index, z, bands=BANDS):
        """
        Flux factors for template indices and redshifts.

        Parameters
        ----------
        index : float or array
            Template index in ``[0, 3]``.
        z : float or array
            Redshift in ``[0, 1]`` (broadcast against ``index``).
        bands : str or sequence of str, optional
            Bands wanted.

        Returns
        -------
        `numpy.ndarray`, shape ``broadcast(index, z).shape + (n_bands,)``
            :math:`10^{-0.4 K_b(z)}` per band (see `factor`).
        """
        bands = check_bands(bands)
        index, z = np.broadcast_arrays(_check_index(index), np.asarray(z, dtype=float))
        if z.size and not (z.min() >= 0 and z.max() <= _Z_MAX):
            msg = f'redshift must be in [0, {_Z_MAX}]; got {z}'
            raise ValueError(msg)
        lo, w = _split_index(index)
        pos = z / _DZ
        iz = np.minimum(pos.astype(int), len(self.redshift) - 2)
        fz = pos - iz
        cols = [BANDS.index(b) for b in bands]
        out = np.empty(index.shape + (len(cols),))
        for k, c in enumerate(cols):
            f = self.factor[:, c, :]
            at_lo = f[lo, iz] * (1 - fz) + f[lo, iz + 1] * fz
            at_hi = f[lo + 1, iz] * (1 - fz) + f[lo + 1, iz + 1] * fz
            out[..., k] = at_lo * (1 - w) + at_hi * w
        return out


@functools.lru_cache(maxsize=1)
def kcorrection_table():
    """
    The process-wide `KCorrectionTable` (computed on first use, ~0.2 s).

    Returns
    -------
    `KCorrectionTable`
    """
    return KCorrectionTable()


def flux_factors(index, z, bands=BANDS):
    """
    Observed flux per unit :math:`^{0.1}r` luminosity, :math:`10^{-0.4 K_b(z)}`.

    A galaxy of absolute magnitude ``M`` (:math:`^{0.1}r`) at distance
    modulus ``DM`` has the flux ``10**(-0.4 * (M + DM - 22.5)) * factor``
    nanomaggies in each band.

    Parameters
    ----------
    index : float or array
        SED template index in ``[0, 3]``.
    z : float or array
        Redshift in ``[0, 1]``.
    bands : str or sequence of str, optional

    Returns
    -------
    `numpy.ndarray`
        Shape ``broadcast(index, z).shape + (n_bands,)``.
    """
    return kcorrection_table().interpolate(index, z, bands)


def kcorrection(index, z, band='r'):
    """
    K-correction from :math:`^{0.1}r` to the observed band, in magnitudes.

    Parameters
    ----------
    index : float or array
        SED template index in ``[0, 3]``.
    z : float or array
        Redshift.
    band : str, optional
        Observed band.

    Returns
    -------
    float or `numpy.ndarray`
        ``m_band = M_{0.1r} + DM(z) + K``.
    """
    k = -2.5 * np.log10(flux_factors(index, z, band)[..., 0])
    return float(k) if np.ndim(k) == 0 else k


def rest_frame_colour(index, band1, band2):
    """
    Rest-frame (``z = 0``) AB colour ``band1 - band2`` of a template index.

    Parameters
    ----------
    index : float or array
        SED template index in ``[0, 3]``.
    band1, band2 : str
        SDSS bands, e.g. ``'u'``, ``'r'``.

    Returns
    -------
    float or `numpy.ndarray`
        Colour of the flux-mixed SED.
    """
    index = _check_index(index)
    f = flux_factors(index, np.zeros_like(index), (band1, band2))
    c = -2.5 * np.log10(f[..., 0] / f[..., 1])
    return float(c) if np.ndim(c) == 0 else c
