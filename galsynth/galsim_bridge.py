# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Bridge between galaxy products and GalSim.

`to_interpolated_image` turns one band of a galaxy product into a
`galsim.InterpolatedImage` with the product's pixel scale and flux, so that
generated (or real) galaxies can be placed into GalSim scenes — sheared,
convolved with another PSF, drawn at another pixel scale or with other noise —
as galsim-hub does for learned models. The product's image already contains
the SDSS PSF; deconvolving it is left to the user (``galsim.Convolve`` with
``galsim.Deconvolve(psf)``), since it is ill-posed for noisy images.
"""

import astropy.units as u
import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from .bands import check_bands
from .products import galaxy_bands, read_galaxy

__all__ = ['pixel_scale_of', 'to_interpolated_image', 'from_galsim_image']


def pixel_scale_of(hdul, band):
    """
    Pixel scale of one band of a product, from its WCS.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    band : str

    Returns
    -------
    `~astropy.units.Quantity`
        Arcsec per pixel (mean of the two axes).
    """
    w = WCS(hdul[band.upper()].header)
    return float(np.mean(proj_plane_pixel_scales(w.celestial)) * 3600.0) * u.arcsec


def to_interpolated_image(hdul, band, *, x_interpolant='quintic', flux=None,
                          normalization='flux', subtract_background=False, **kwargs):
    """
    One band of a galaxy product as a `galsim.InterpolatedImage`.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList` or path
        A galaxy product (a path is read with `galsynth.products.read_galaxy`).
    band : str
        Band letter.
    x_interpolant : str, optional
        GalSim real-space interpolant (default ``'quintic'``).
    flux : float, optional
        Total flux to give the profile (nanomaggies); default: the sum of the
        image, so that ``drawImage(scale=..., method='no_pixel')`` at the same
        pixel scale returns the product's pixel values.
    normalization : {'flux', 'sb'}, optional
        GalSim's interpretation of pixel values (``'flux'``: values are fluxes
        per pixel, as in products).
    subtract_background : bool, optional
        Subtract the sigma-clipped median of the image border first.
    **kwargs
        More `galsim.InterpolatedImage` arguments.

    Returns
    -------
    `galsim.InterpolatedImage`
        With the WCS pixel scale (arcsec); profile units: nanomaggies.
    """
    import galsim

    if not hasattr(hdul, 'index_of'):
        hdul = read_galaxy(hdul)
    (band,) = check_bands(band)
    if band not in galaxy_bands(hdul):
        msg = f'product has no band {band.upper()!r}; bands: {"".join(galaxy_bands(hdul))!r}'
        raise ValueError(msg)
    data = np.array(hdul[band.upper()].data, dtype=np.float64)
    data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    if subtract_background:
        from astropy.stats import sigma_clipped_stats

        border = np.concatenate([data[:4].ravel(), data[-4:].ravel(),
                                 data[:, :4].ravel(), data[:, -4:].ravel()])
        data = data - sigma_clipped_stats(border)[1]
    scale = pixel_scale_of(hdul, band).to_value(u.arcsec)
    image = galsim.Image(data, scale=scale)
    return galsim.InterpolatedImage(image, x_interpolant=x_interpolant, flux=flux,
                                    normalization=normalization, **kwargs)


def from_galsim_image(images, *, bands, **kwargs):
    """
    Build a galaxy product from GalSim images (one per band).

    Parameters
    ----------
    images : sequence of `galsim.Image`
        Same shape, pixel values in nanomaggies, scale in arcsec.
    bands : str or sequence of str
    **kwargs
        Passed to `galsynth.products.make_galaxy` (``ra``, ``dec``, ...).

    Returns
    -------
    `~astropy.io.fits.HDUList`
    """
    from .products import make_galaxy

    scales = {img.scale for img in images}
    if len(scales) != 1:
        msg = f'images have different pixel scales {sorted(scales)}'
        raise ValueError(msg)
    cube = np.stack([img.array for img in images])
    return make_galaxy(cube, bands=bands, pixel_scale=scales.pop() * u.arcsec, **kwargs)
