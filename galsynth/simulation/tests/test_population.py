# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the galaxy population model."""

import astropy.units as u
import galsim
import numpy as np
import pytest

from galsynth.simulation import population as pop


@pytest.fixture(scope='module')
def sample():
    return pop.draw_population(600, seed=2024)


class TestDrawPopulation:
    def test_deterministic(self):
        a = pop.draw_population(4, seed=11)
        b = pop.draw_population(4, seed=11)
        c = pop.draw_population(4, seed=12)
        for name in ('redshift', 'abs_mag_r', 'r50', 'bulge_to_total', 'position_angle'):
            np.testing.assert_array_equal(a[name], b[name])
            assert not np.any(a[name] == c[name])

    def test_item_independent_of_n_and_start(self):
        full = pop.draw_population(6, seed=5)
        part = pop.draw_population(2, seed=5, start=4)
        for name in full.colnames:
            assert np.all(full[name][4:] == part[name]), name

    def test_selection(self, sample):
        assert np.all(sample['mag_r'] < 17.77 * u.mag)
        assert np.all((sample['redshift'] >= 0.02) & (sample['redshift'] <= 0.25))
        # SDSS main sample: median z ~ 0.1, median r50 ~ 2 arcsec
        assert 0.07 < np.median(sample['redshift']) < 0.13
        assert 1.2 * u.arcsec < np.median(sample['r50']) < 3.0 * u.arcsec
        assert set(np.unique(sample['type'])) == {'red', 'blue'}

    def test_magnitudes_consistent(self, sample):
        bulge, disk, abs_mag, mag_r = pop.component_fluxes(
            sample['redshift'], sample['bulge_sed'], sample['disk_sed'],
            sample['bulge_to_total'], abs_mag_r=sample['abs_mag_r'].value, bands='ugriz')
        mags = 22.5 - 2.5 * np.log10(bulge + disk)
        for j, b in enumerate('ugriz'):
            np.testing.assert_allclose(mags[:, j], sample[f'mag_{b}'].value, atol=1e-9)
        # and the inverse direction
        _, _, back, _ = pop.component_fluxes(
            sample['redshift'], sample['bulge_sed'], sample['disk_sed'],
            sample['bulge_to_total'], mag_r=sample['mag_r'].value)
        np.testing.assert_allclose(back, sample['abs_mag_r'].value, atol=1e-9)

    def test_size_limits_and_redshift(self):
        t = pop.draw_population(20, seed=3, min_r50=4 * u.arcsec, max_r50=6.0)
        assert np.all((t['r50'] >= 4 * u.arcsec) & (t['r50'] <= 6 * u.arcsec))
        t = pop.draw_population(5, seed=3, redshift=0.07)
        assert np.all(t['redshift'] == 0.07)
        t = pop.draw_population(10, seed=3, preset='training', stamp_size=64 * 0.396127)
        assert np.all((t['r50'].value >= 0.08 * 64 * 0.396127)
                      & (t['r50'].value <= 0.25 * 64 * 0.396127))
        assert np.all(t['redshift'] <= 0.05)

    @pytest.mark.parametrize(('kwargs', 'match'), [
        ({'preset': 'nope'}, 'unknown population preset'),
        ({'redshift': 0.9, 'mag_limit': 12.0}, 'no galaxy brighter'),
        ({'z_range': (0.3, 0.1)}, 'z_range'),
        ({'min_r50': 5.0, 'max_r50': 2.0}, 'min_r50'),
    ])
    def test_bad_input(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            pop.draw_population(1, seed=1, **kwargs)
        with pytest.raises(ValueError, match='positive integer'):
            pop.draw_population(0, seed=1)


class TestBimodality:
    def test_colour_bimodal(self, sample):
        """Observed g - r of the population is bimodal: two Gaussians beat one clearly."""
        result = pop.bimodality((sample['mag_g'] - sample['mag_r']).value)
        assert result['delta_bic'] > 10
        assert result['ashman_d'] > 2
        assert np.all(result['weights'] > 0.15)
        # blue cloud and red sequence where SDSS has them (observed, z ~ 0.1)
        assert 0.4 < result['means'][0] < 0.7
        assert 0.8 < result['means'][1] < 1.1

    def test_rest_frame_bimodal(self, sample):
        """Rest-frame u - r: blue cloud ~1.6, red sequence ~2.4 (Baldry et al. 2004)."""
        result = pop.bimodality(sample['rest_u_r'].value)
        assert result['ashman_d'] > 2
        assert 1.3 < result['means'][0] < 1.9
        assert 2.1 < result['means'][1] < 2.7

    def test_criterion_fails_for_unimodal(self, sample):
        """The same criterion rejects unimodal samples (it can fail)."""
        rng = np.random.default_rng(0)
        for x in (rng.normal(0.7, 0.2, 600), rng.lognormal(-0.5, 0.4, 600),
                  (sample['mag_g'] - sample['mag_r']).value[sample['type'] == 'blue']):
            result = pop.bimodality(x)
            assert not (result['delta_bic'] > 10 and result['ashman_d'] > 2)

    def test_mixture_recovers_parameters(self):
        rng = np.random.default_rng(1)
        x = np.concatenate([rng.normal(0.5, 0.1, 700), rng.normal(1.0, 0.08, 300)])
        fit = pop.fit_gaussian_mixture(x, 2)
        np.testing.assert_allclose(fit['means'], [0.5, 1.0], atol=0.02)
        np.testing.assert_allclose(fit['weights'], [0.7, 0.3], atol=0.04)


class TestHalfLightRadius:
    def test_single_component(self):
        assert pop.half_light_radius(1.0, 2.0, 0.0) == pytest.approx(2.0, rel=1e-6)
        assert pop.half_light_radius(1.3, 2.0, 1.0, bulge_n=2.5) == pytest.approx(1.3, rel=1e-6)
        r = pop.half_light_radius(1.0 * u.arcsec, 2.0 * u.arcsec, 0.5)
        assert r.unit == u.arcsec

    @pytest.mark.parametrize(('bt', 'qb', 'qd', 'n'), [(0.3, 0.8, 0.4, 4.0),
                                                       (0.6, 0.6, 0.25, 3.0)])
    def test_matches_galsim_image(self, bt, qb, qd, n):
        """The circular half-light radius agrees with a fine GalSim image of the profile."""
        rb, rd = 0.6, 2.0
        r50 = pop.half_light_radius(rb, rd, bt, bulge_q=qb, disk_q=qd, bulge_n=n)
        beta = 0.7 * galsim.radians
        gal = (galsim.Sersic(n, half_light_radius=rb, flux=bt).shear(q=qb, beta=beta)
               + galsim.Exponential(half_light_radius=rd, flux=1 - bt).shear(q=qd, beta=beta))
        scale, npix = 0.025, 1200
        img = gal.drawImage(nx=npix, ny=npix, scale=scale, method='no_pixel').array
        y, x = np.indices(img.shape)
        rad = np.hypot(x - (npix - 1) / 2, y - (npix - 1) / 2) * scale
        order = np.argsort(rad.ravel())
        cum = np.cumsum(img.ravel()[order]) / gal.flux
        measured = rad.ravel()[order][np.searchsorted(cum, 0.5)]
        assert measured == pytest.approx(r50, rel=0.01)

    def test_bad_input(self):
        with pytest.raises(ValueError, match='bulge_to_total'):
            pop.half_light_radius(1.0, 1.0, 1.5)
        with pytest.raises(ValueError, match='positive'):
            pop.half_light_radius(1.0, 0.0, 0.5)


class TestDistributions:
    def test_red_fraction_rises_with_luminosity(self):
        f = pop.red_fraction([-23.0, -20.6, -18.0])
        assert f[0] > 0.8 and 0.45 < f[1] < 0.55 and f[2] < 0.25

    def test_shen_sizes(self):
        r, sigma = pop.mean_size([-22.0, -20.0], ['red', 'blue'])
        # Shen et al. (2003): ~5 kpc for bright early types, ~3 kpc for L* discs
        assert 4.0 < r[0].to_value(u.kpc) < 7.0
        assert 2.0 < r[1].to_value(u.kpc) < 4.0
        assert np.all((sigma > 0.25) & (sigma < 0.48))
