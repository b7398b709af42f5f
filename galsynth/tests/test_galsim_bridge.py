# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.galsim_bridge."""

import galsim
import numpy as np
import pytest

from galsynth.bands import PIXEL_SCALE
from galsynth.galsim_bridge import from_galsim_image, pixel_scale_of, to_interpolated_image
from galsynth.products import galaxy_cube, write_galaxy


@pytest.fixture
def product():
    scale = PIXEL_SCALE.value
    prof = galsim.Convolve(galsim.Sersic(n=1.5, half_light_radius=2.0, flux=250.0),
                           galsim.Moffat(beta=3.5, fwhm=1.4))
    images = [prof.withFlux(f).drawImage(nx=48, ny=48, scale=scale) for f in (100.0, 250.0, 400.)]
    return from_galsim_image(images, bands='gri', ra=10.0, dec=-5.0)


class TestBridge:
    def test_scale_and_flux(self, product):
        assert pixel_scale_of(product, 'r').value == pytest.approx(PIXEL_SCALE.value, rel=1e-9)
        ii = to_interpolated_image(product, 'r')
        assert isinstance(ii, galsim.InterpolatedImage)
        assert ii.flux == pytest.approx(galaxy_cube(product, 'r').sum(), rel=1e-6)

    def test_redraw_reproduces_pixels(self, product):
        ii = to_interpolated_image(product, 'g')
        img = ii.drawImage(nx=48, ny=48, scale=PIXEL_SCALE.value, method='no_pixel')
        np.testing.assert_allclose(img.array, galaxy_cube(product, 'g')[0], atol=1e-3)

    def test_into_a_scene_with_another_psf(self, product, tmp_path):
        path = write_galaxy(product, tmp_path / 'g.fits')
        ii = to_interpolated_image(path, 'i')
        # shear it, convolve with a wider PSF, draw at a coarser pixel scale
        scene = galsim.Convolve(ii.shear(g1=0.2), galsim.Gaussian(fwhm=2.5))
        img = scene.drawImage(nx=96, ny=96, scale=0.5)
        # flux is conserved: the scene holds the product's total flux
        assert img.array.sum() == pytest.approx(galaxy_cube(product, 'i').sum(), rel=0.01)

    def test_bad_band(self, product):
        with pytest.raises(ValueError, match="no band 'Z'"):
            to_interpolated_image(product, 'z')
