# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the growth-curve radii, the PSF model and the Sérsic helpers."""

import math

import numpy as np
import pytest

from galsynth.photometry import flux_radii, growth_curve, psf_image
from galsynth.photometry.morphology import sersic_circular_r50, statmorph_morphology


class TestGrowthCurve:
    def test_uniform_disk(self):
        # A uniform disk of radius R: r50 = R / sqrt(2), r90 = R sqrt(0.9).
        radius = 10.0
        size = 41
        sub = 8
        y, x = (np.mgrid[:size * sub, :size * sub] + 0.5) / sub - 0.5
        inside = np.hypot(x - 20.0, y - 20.0) < radius
        img = inside.reshape(size, sub, size, sub).mean(axis=(1, 3))
        r50, r90 = flux_radii(img, (20.0, 20.0), (0.5, 0.9))
        assert abs(r50 - radius / math.sqrt(2)) < 0.05
        assert abs(r90 - radius * math.sqrt(0.9)) < 0.05

    def test_ellipse(self):
        # Uniform ellipse a=12, b=6 at 30 degrees: semi-major r50 = a / sqrt(2).
        size, sub, a, b, theta = 41, 8, 12.0, 6.0, math.radians(30)
        y, x = (np.mgrid[:size * sub, :size * sub] + 0.5) / sub - 0.5
        dx, dy = x - 20, y - 20
        u = dx * math.cos(theta) + dy * math.sin(theta)
        v = -dx * math.sin(theta) + dy * math.cos(theta)
        img = ((u / a) ** 2 + (v / b) ** 2 < 1).reshape(size, sub, size, sub).mean(axis=(1, 3))
        (r50,) = flux_radii(img, (20.0, 20.0), 0.5, ellipticity=1 - b / a, orientation=theta)
        assert abs(r50 - a / math.sqrt(2)) < 0.1

    def test_monotonic_and_total(self):
        img = np.random.default_rng(1).random((20, 20))
        radii, enclosed = growth_curve(img, (9.5, 9.5))
        assert np.all(np.diff(radii) > 0)
        assert abs(enclosed[-1] - img.sum()) < 1e-9

    def test_nonpositive_total(self):
        assert np.isnan(flux_radii(np.zeros((10, 10)), (5, 5), 0.5)).all()

    def test_bad_ellipticity(self):
        with pytest.raises(ValueError, match='ellipticity'):
            growth_curve(np.ones((5, 5)), (2, 2), ellipticity=1.0)


class TestPSF:
    def test_normalized_and_fwhm(self):
        psf = psf_image(4.0, oversample=9, size=41)
        assert abs(psf.sum() - 1) < 1e-12
        assert psf.shape == (41, 41)
        profile = psf[20] / psf[20, 20]
        # half maximum about 2 pixels from the centre (pixel integration broadens a bit)
        half = np.interp(0.5, profile[20:][::-1], np.arange(21)[::-1])
        assert 1.9 < half < 2.3

    def test_bad_fwhm(self):
        with pytest.raises(ValueError, match='FWHM'):
            psf_image(0.0)


class TestSersicCircularR50:
    def test_round_is_r_eff(self):
        assert sersic_circular_r50(2.0, 4.0, 0.0) == 2.0

    @pytest.mark.parametrize('n', [1.0, 4.0])
    def test_against_galsim(self, n):
        import galsim

        q, hlr = 0.5, 2.0  # GalSim's hlr of a sheared profile is sqrt(ab)
        gal = galsim.Sersic(n=n, half_light_radius=hlr).shear(q=q, beta=0 * galsim.degrees)
        img = gal.drawImage(nx=200, ny=200, scale=0.1).array  # pixel-integrated
        (measured,) = flux_radii(img, (99.5, 99.5), 0.5, total=1.0)
        expected = sersic_circular_r50(hlr / math.sqrt(q), n, 1 - q)
        assert abs(measured * 0.1 / expected - 1) < 0.01

    def test_invalid(self):
        assert math.isnan(sersic_circular_r50(-1.0, 1.0, 0.2))
        assert math.isnan(sersic_circular_r50(1.0, 1.0, 1.0))


class TestStatmorph:
    def test_empty_segment_is_caught(self):
        img = -np.ones((30, 30))
        seg = np.zeros((30, 30), dtype=int)
        seg[10:20, 10:20] = 1
        result, messages = statmorph_morphology(img, seg, 1, weightmap=np.ones((30, 30)))
        assert result['flag'] == 4
        assert math.isnan(result['gini'])
        assert messages  # statmorph's warning, collected rather than raised
