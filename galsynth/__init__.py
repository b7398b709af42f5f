# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
galsynth: synthetic multi-band galaxy images in physical units.

``GalaxyGenerator`` makes galaxies as FITS products (nanomaggies, TAN WCS,
provenance header) from a StyleGAN trained on simulated and real SDSS
galaxies, or from a physical GalSim simulator::

    >>> from galsynth import GalaxyGenerator
    >>> gen = GalaxyGenerator(backend='parametric')
    >>> hdul = gen.generate(1, seed=1, size=32)[0]
    >>> hdul[0].header['GENERATR']
    'parametric'
"""

try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - not installed
    __version__ = '0.0.0'

from .generator import GalaxyGenerator  # noqa: E402

__all__ = ['GalaxyGenerator', '__version__']
