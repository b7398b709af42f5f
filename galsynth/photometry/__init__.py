# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Photometry and morphology of galaxy products (a photutils replacement for ProFound).

`measure` returns one `~astropy.table.QTable` row per product: sky, total
(dilated-segment and Kron) fluxes, magnitudes and colours per band, sizes,
shapes and statmorph morphology of the central galaxy, and `PhotometryFlag`
bits.
"""

from .measure import (
    COLUMNS,
    DEFAULT_PSF_FWHM,
    NoCentralSourceWarning,
    PhotometryFlag,
    column_names,
    measure,
)
from .morphology import flux_radii, growth_curve, psf_image, statmorph_morphology

__all__ = [
    'measure',
    'column_names',
    'COLUMNS',
    'PhotometryFlag',
    'NoCentralSourceWarning',
    'DEFAULT_PSF_FWHM',
    'growth_curve',
    'flux_radii',
    'psf_image',
    'statmorph_morphology',
]
