# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``parametric`` generator backend: the GalSim physical simulator
(`galsynth.simulation`) behind the `~galsynth.GalaxyGenerator` interface.
"""

from ..bands import check_bands
from ..generator import GeneratorBackend
from ..simulation.batch import _check_size, iter_simulate

__all__ = ['ParametricBackend']

_OPTIONS = {'preset', 'noise', 'psf', 'neighbours', 'z_range', 'mag_limit', 'min_r50',
            'max_r50', 'abs_mag_range', 'population', 'progress'}


class ParametricBackend(GeneratorBackend):
    """
    Simulated bulge + disk galaxies with SDSS-like PSF, neighbours and noise.

    Parameters
    ----------
    size : int, optional
        Default stamp size in pixels (overridable per call).
    bands : str or sequence of str, optional
        Default SDSS bands (overridable per call).
    **options
        Default simulation options: ``preset``, ``noise``, ``psf``,
        ``neighbours``, ``z_range``, ``mag_limit``, ``min_r50``,
        ``max_r50``, ``abs_mag_range`` (see
        `galsynth.simulation.iter_simulate`).

    Examples
    --------
    >>> from galsynth import GalaxyGenerator
    >>> gen = GalaxyGenerator(backend='parametric', size=32)
    >>> hdul = gen.generate(1, seed=7)[0]
    >>> hdul[0].header['GENERATR'], hdul['R'].data.shape
    ('parametric', (32, 32))
    """

    name = 'parametric'

    def __init__(self, *, size=256, bands='gri', **options):
        self._size = _check_size(size)
        self._bands = check_bands(bands)
        unknown = set(options) - _OPTIONS
        if unknown:
            msg = (f'the parametric backend takes no option(s) {sorted(unknown)}; '
                   f'known: {sorted(_OPTIONS)}')
            raise TypeError(msg)
        self.options = dict(options)

    @property
    def bands(self):
        """Default bands (tuple of str)."""
        return self._bands

    @property
    def resolution(self):
        """Default stamp size in pixels."""
        return self._size

    def iter_generate(self, n, *, seed=None, start=0, size=None, bands=None, ra=None, dec=None,
                      redshift=None, jobs=1, **kwargs):
        """
        Yield ``n`` simulated galaxy products.

        Parameters
        ----------
        n : int
            Number of galaxies.
        seed : int, optional
            Base seed; galaxy *k* depends only on ``(seed, k)``.
        start : int, optional
            Index of the first galaxy.
        size : int, optional
            Stamp size (default: the backend's).
        bands : str, optional
            Bands (default: the backend's).
        ra, dec : float or sequence, optional
            Sky positions (degrees).
        redshift : float or sequence, optional
            Redshift(s) of the galaxies.
        jobs : int, optional
            Worker processes.
        **kwargs
            Simulation options (see `galsynth.simulation.iter_simulate`),
            overriding those given to the constructor.

        Yields
        ------
        `~astropy.io.fits.HDUList`
        """
        options = {**self.options, **kwargs}
        return iter_simulate(n, seed=seed, start=start,
                             size=self._size if size is None else size,
                             bands=self._bands if bands is None else bands,
                             ra=ra, dec=dec, redshift=redshift, jobs=jobs, **options)
