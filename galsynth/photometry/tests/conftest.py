# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Galaxies of known truth rendered directly with GalSim, for the photometry tests."""

import numpy as np
import pytest

from galsynth.bands import PIXEL_SCALE
from galsynth.products import make_galaxy

SCALE = PIXEL_SCALE.value
#: Sky noise per pixel (nanomaggies): about SDSS r-band single-epoch depth.
SIGMA = 0.03
PSF_FWHM = 1.4


def render(n=1.0, hlr=1.5, flux_r=150.0, *, q=0.7, beta=30.0, colors=(0.5, 1.0, 1.3),
           size=64, sigma=SIGMA, seed=0, offset=(0.0, 0.0), noise=True, ivar=False,
           extra=(), psf_fwhm=PSF_FWHM):
    """
    A g, r, i product of a Sérsic galaxy (Moffat PSF) plus Gaussian noise.

    ``colors`` are the g, r, i fluxes relative to r; ``extra`` holds more
    sources as ``(n, hlr, flux_r, dx, dy)`` (arcsec offsets).
    """
    import galsim

    psf = galsim.Moffat(beta=3.0, fwhm=psf_fwhm)
    gal = galsim.Sersic(n=n, half_light_radius=hlr).shear(q=q, beta=beta * galsim.degrees)
    img = galsim.Convolve(gal, psf).drawImage(nx=size, ny=size, scale=SCALE,
                                              offset=offset).array.astype(float)
    cube = np.stack([img * flux_r * c for c in colors])
    for n2, hlr2, flux2, dx, dy in extra:
        other = galsim.Convolve(galsim.Sersic(n=n2, half_light_radius=hlr2), psf)
        im2 = other.drawImage(nx=size, ny=size, scale=SCALE,
                              offset=(dx / SCALE, dy / SCALE)).array
        cube += np.stack([im2 * flux2 * c for c in colors])
    if noise:
        rng = np.random.default_rng(seed)
        cube = cube + rng.normal(0.0, sigma, cube.shape)
    iv = np.full(cube.shape, 1.0 / sigma**2) if ivar else None
    truth = {'flux_g': flux_r * colors[0], 'flux_r': flux_r, 'flux_i': flux_r * colors[2]}
    return make_galaxy(cube, bands='gri', ivar=iv, truth=truth,
                       extra_header={'SEEING': (psf_fwhm, '[arcsec]')})


@pytest.fixture(scope='session')
def disk():
    """An exponential disk, m_r = 17.06, hlr 1.5 arcsec."""
    return render(n=1.0, hlr=1.5, flux_r=150.0)
