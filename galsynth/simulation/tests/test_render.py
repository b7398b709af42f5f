# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the GalSim rendering: calibration, noise, geometry, products."""

import pickle

import astropy.units as u
import galsim
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from galsynth.bands import PIXEL_SCALE
from galsynth.products import galaxy_cube, galaxy_ivar, galaxy_truth, read_galaxy, write_galaxy
from galsynth.simulation import population as pop
from galsynth.simulation import render

#: A disk galaxy we control (photometry-validation style input).
DISK = {'redshift': 0.05, 'mag_r': 15.5, 'r50': 3.0, 'bulge_to_total': 0.2, 'bulge_n': 4.0,
        'bulge_q': 0.8, 'disk_q': 0.3, 'position_angle': 30.0, 'disk_sed': 1.5,
        'bulge_sed': 0.0}


@pytest.fixture(scope='module')
def galaxies():
    return pop.draw_population(3, seed=77)


class TestFluxCalibration:
    def test_noiseless_sum_equals_truth(self, galaxies):
        """Noiseless image sums equal the truth fluxes within 1% in every band.

        The stamp must hold the de Vaucouleurs wings: galaxy 2 has a 3" bulge,
        1.2% of whose light lies beyond 50" (a 256-pixel stamp).
        """
        for row in galaxies:
            size = 512 if row['bulge_r50'] > 2 * u.arcsec else 160
            hdul = render.render_galaxy(row, size=size, bands='ugriz', noise=False,
                                        neighbours=False)
            truth = galaxy_truth(hdul)
            cube = galaxy_cube(hdul)
            for k, band in enumerate('ugriz'):
                flux = truth[f'flux_{band}']
                assert cube[k].sum() == pytest.approx(flux, rel=0.01), band
                assert truth[f'mag_{band}'] == pytest.approx(22.5 - 2.5 * np.log10(flux))
                assert truth[f'mag_{band}'] == pytest.approx(row[f'mag_{band}'].value)

    def test_psf_free_flux(self):
        hdul = render.render_galaxy(DISK, size=128, bands='r', noise=False, psf=False,
                                    neighbours=False, seed=1)
        assert galaxy_cube(hdul)[0].sum() == pytest.approx(galaxy_truth(hdul)['flux_r'],
                                                           rel=0.01)

    def test_mag_r_is_respected(self):
        truth = galaxy_truth(render.render_galaxy(DISK, size=32, bands='gr', seed=1))
        assert truth['mag_r'] == pytest.approx(15.5)
        assert truth['r50'] == pytest.approx(3.0)
        assert 0.2 < truth['mag_g'] - truth['mag_r'] < 0.9


class TestDeterminism:
    def test_same_seed_same_arrays(self, galaxies):
        a = render.render_galaxy(galaxies[0], size=48, seed=5)
        b = render.render_galaxy(galaxies[0], size=48, seed=5)
        c = render.render_galaxy(galaxies[0], size=48, seed=6)
        for name in ('G', 'R', 'I', 'IVAR_R'):
            np.testing.assert_array_equal(a[name].data, b[name].data)
        assert not np.array_equal(a['R'].data, c['R'].data)

    def test_options_keep_the_scene(self, galaxies):
        """Noise off/on and neighbours off/on change only that part of the image."""
        on = render.render_galaxy(galaxies[1], size=96, seed=9, noise=False)
        off = render.render_galaxy(galaxies[1], size=96, seed=9, noise=False,
                                   neighbours=False)
        assert galaxy_truth(on)['seeing'] == galaxy_truth(off)['seeing']
        diff = galaxy_cube(on) - galaxy_cube(off)
        assert np.all(diff >= -1e-6)  # neighbours only add light
        noisy = render.render_galaxy(galaxies[1], size=96, seed=9)
        resid = galaxy_cube(noisy) - galaxy_cube(on)
        sigma = 1 / np.sqrt(galaxy_ivar(noisy))
        assert abs(np.std(resid / sigma) - 1) < 0.03


class TestNoise:
    def test_noise_matches_ivar(self):
        images = np.zeros((3, 200, 200))
        rng = np.random.default_rng(3)
        for exact in (False, True):
            noisy, ivar = render.add_noise(images, 'gri', rng, exact_poisson=exact)
            for k in range(3):
                assert np.std(noisy[k]) * np.sqrt(ivar[k].mean()) == pytest.approx(1, abs=0.02)
                assert abs(noisy[k].mean()) < 3 * noisy[k].std() / 200
        # source photon noise: a bright flat source raises the variance
        bright = np.full((1, 100, 100), 5.0)
        noisy, ivar = render.add_noise(bright, 'r', rng)
        _, ivar_sky = render.add_noise(np.zeros_like(bright), 'r', rng)
        assert ivar.mean() < 0.5 * ivar_sky.mean()
        assert np.std(noisy) * np.sqrt(ivar.mean()) == pytest.approx(1, abs=0.03)

    def test_sdss_depth(self):
        """5-sigma point-source depths are near SDSS's 95%-completeness limits."""
        completeness = {'u': 22.0, 'g': 22.2, 'r': 22.2, 'i': 21.3, 'z': 20.5}
        for band, limit in completeness.items():
            depth = render.point_source_depth(band)
            assert -0.2 < depth - limit < 1.0, band
        # worse seeing, shallower images
        assert render.point_source_depth('r', seeing=2.0) < render.point_source_depth('r') - 0.3

    def test_sky_level(self):
        sky = render.sky_level('r')
        assert sky.unit == u.nanomaggy / u.arcsec ** 2
        assert sky.value == pytest.approx(10 ** (-0.4 * (20.8 - 22.5)))


class TestGeometry:
    @staticmethod
    def _moments(image):
        y, x = np.indices(image.shape, dtype=float)
        w = np.clip(image, 0, None)
        xc, yc = (w * x).sum() / w.sum(), (w * y).sum() / w.sum()
        ixx = (w * (x - xc) ** 2).sum() / w.sum()
        iyy = (w * (y - yc) ** 2).sum() / w.sum()
        ixy = (w * (x - xc) * (y - yc)).sum() / w.sum()
        return xc, yc, ixx, iyy, ixy

    @pytest.mark.parametrize('pa', [0.0, 45.0, 120.0])
    def test_position_angle_east_of_north(self, pa):
        """The major axis points at PA east of north according to the product's WCS."""
        params = dict(DISK, position_angle=pa, bulge_to_total=0.0)
        hdul = render.render_galaxy(params, size=64, bands='r', noise=False,
                                    neighbours=False, psf=False, seed=1)
        xc, yc, ixx, iyy, ixy = self._moments(hdul['R'].data)
        assert xc == pytest.approx(31.5, abs=0.01) and yc == pytest.approx(31.5, abs=0.01)
        # Major-axis direction in pixels, then on the sky through the CD matrix.
        theta = 0.5 * np.arctan2(2 * ixy, ixx - iyy)
        vec = np.array([np.cos(theta), np.sin(theta)])
        cd = np.array([[hdul['R'].header[f'CD{i}_{j}'] for j in (1, 2)] for i in (1, 2)])
        d_ra, d_dec = cd @ vec  # RA increases to the east
        measured = np.degrees(np.arctan2(d_ra, d_dec)) % 180
        assert min(abs(measured - pa), 180 - abs(measured - pa)) < 1.0
        assert galaxy_truth(hdul)['position_angle'] == pytest.approx(pa)

    def test_centre_at_crval(self, galaxies):
        from astropy.wcs import WCS

        hdul = render.render_galaxy(galaxies[0], size=50, bands='r', noise=False,
                                    neighbours=False, ra=150.0, dec=2.0, seed=1)
        xc, yc, *_ = self._moments(hdul['R'].data)
        ra, dec = WCS(hdul['R'].header).pixel_to_world_values(xc, yc)
        assert ra == pytest.approx(150.0, abs=1e-5) and dec == pytest.approx(2.0, abs=1e-5)

    def test_r50_of_rendered_profile(self):
        """The truth r50 is the circular half-light radius of the PSF-free profile."""
        hdul = render.render_galaxy(DISK, size=160, bands='r', noise=False, psf=False,
                                    neighbours=False, seed=1)
        image = hdul['R'].data.astype(float)
        y, x = np.indices(image.shape)
        rad = np.hypot(x - 79.5, y - 79.5) * PIXEL_SCALE.value
        order = np.argsort(rad.ravel())
        cum = np.cumsum(image.ravel()[order]) / galaxy_truth(hdul)['flux_r']
        measured = rad.ravel()[order][np.searchsorted(cum, 0.5)]
        assert measured == pytest.approx(galaxy_truth(hdul)['r50'], rel=0.03)

    def test_seeing(self):
        hdul = render.render_galaxy(DISK, size=32, bands='gri', seeing=1.2, seed=1)
        truth = galaxy_truth(hdul)
        assert truth['seeing'] == 1.2 == truth['psf_fwhm_r']
        assert truth['psf_fwhm_g'] > 1.2 > truth['psf_fwhm_i']
        assert hdul[0].header['SEEING'] == 1.2
        rng = np.random.default_rng(0)
        seeing = [render.draw_seeing(rng) for _ in range(2000)]
        assert np.median(seeing) == pytest.approx(1.4, abs=0.03)


class TestProduct:
    def test_header_and_truth(self, galaxies):
        hdul = render.render_galaxy(galaxies[2], size=40, bands='gri', seed=123,
                                    base_seed=9, index=4)
        hdr = hdul[0].header
        truth = galaxy_truth(hdul)
        assert [h.name for h in hdul] == ['PRIMARY', 'G', 'R', 'I', 'IVAR_G', 'IVAR_R',
                                          'IVAR_I', 'TRUTH']
        assert hdr['GENERATR'] == 'parametric'
        assert hdr['SEED'] == 123 and hdr['BASESEED'] == 9 and hdr['LATENTIX'] == 4
        assert hdr['GALSMVER'] == galsim.__version__
        assert hdr['REDSHIFT'] == pytest.approx(truth['redshift'])
        assert truth['redshift'] == pytest.approx(galaxies[2]['redshift'])
        assert any('GalSim' in str(h) for h in hdr['HISTORY'])
        assert len(hdr['HISTORY']) >= 5
        for band in 'gri':
            assert f'mag_{band}' in truth and f'flux_{band}' in truth
            assert hdul[band.upper()].header['BUNIT'] == 'nanomaggy'
        for key in ('r50', 'bulge_n', 'bulge_to_total', 'ellipticity', 'position_angle',
                    'type', 'abs_mag_r', 'seeing', 'bulge_q', 'disk_q', 'seed'):
            assert key in truth
        assert truth['type'] in ('red', 'blue')
        assert truth['seed'] == 123
        assert 0 <= truth['ellipticity'] < 1
        assert np.all(galaxy_ivar(hdul) > 0)
        table = Table.read(hdul['TRUTH'])
        assert table['r50'].unit == u.arcsec and table['mag_r'].unit == u.mag

    def test_truth_hdu_round_trip(self, tmp_path, galaxies):
        """The fast TRUTH HDU reads, writes, re-writes and pickles like any other."""
        hdul = render.render_galaxy(galaxies[0], size=24, bands='r', seed=3)
        write_galaxy(hdul, tmp_path / 'a.fits')
        truth = galaxy_truth(hdul)  # data read after writing
        write_galaxy(hdul, tmp_path / 'b.fits')
        hdul['TRUTH'].data['mag_r'][0] = 1.0  # modified after reading
        write_galaxy(hdul, tmp_path / 'c.fits')
        copy = pickle.loads(pickle.dumps(render.render_galaxy(galaxies[0], size=24,
                                                              bands='r', seed=3)))
        write_galaxy(copy, tmp_path / 'd.fits')
        for name, mag in (('a', truth['mag_r']), ('b', truth['mag_r']), ('c', 1.0),
                          ('d', truth['mag_r'])):
            back = read_galaxy(tmp_path / f'{name}.fits')
            assert galaxy_truth(back)['mag_r'] == mag
            assert galaxy_truth(back)['type'] == truth['type']
        with fits.open(tmp_path / 'c.fits', checksum=True) as f:
            f.verify('exception')
        slow = render.truth_table(truth)
        fast = Table.read(render.truth_hdu(truth))
        assert slow.colnames == fast.colnames
        for name in slow.colnames:
            assert slow[name][0] == fast[name][0]
            assert slow[name].unit == fast[name].unit

    def test_neighbours(self, galaxies):
        counts = [galaxy_truth(render.render_galaxy(galaxies[0], size=256, seed=s,
                                                    noise=False))
                  for s in range(3)]
        assert sum(t['n_neighbours'] + t['n_stars'] for t in counts) > 3
        quiet = galaxy_truth(render.render_galaxy(galaxies[0], size=256, seed=0,
                                                  neighbours=False))
        assert quiet['n_neighbours'] == quiet['n_stars'] == 0


class TestParams:
    def test_complete_params(self):
        p = render.complete_params({'redshift': 0.1, 'abs_mag_r': -21.0, 'r50': 2.0})
        assert p['r50'] == pytest.approx(2.0)
        assert p['mag_r'] == pytest.approx(-21.0 + pop._distmod(0.1)
                                           + (p['mag_r'] - p['abs_mag_r'] - pop._distmod(0.1)))
        assert p['type'] in ('red', 'blue')
        q = render.complete_params({'redshift': 0.1, 'mag_r': 16.0, 'bulge_r50': 0.5,
                                    'disk_r50': 2.0, 'bulge_to_total': 0.4})
        assert q['r50'] == pytest.approx(pop.half_light_radius(0.5, 2.0, 0.4))
        assert q['mag_r'] == 16.0

    @pytest.mark.parametrize(('params', 'match'), [
        ({'mag_r': 16.0, 'r50': 1.0}, 'redshift'),
        ({'redshift': 0.1, 'r50': 1.0}, 'mag_r'),
        ({'redshift': 0.1, 'mag_r': 16.0}, 'r50'),
        ({'redshift': 0.1, 'mag_r': 16.0, 'r50': 1.0, 'bulge_to_total': 2.0}, 'bulge_to_total'),
        ({'redshift': 0.1, 'mag_r': 16.0, 'r50': 1.0, 'disk_q': 0.0}, 'disk_q'),
        ({'redshift': 0.1, 'mag_r': 16.0, 'r50': -1.0}, 'r50'),
    ])
    def test_bad_params(self, params, match):
        with pytest.raises(ValueError, match=match):
            render.complete_params(params)

    def test_bad_render_options(self):
        with pytest.raises(ValueError, match='size'):
            render.render_galaxy(DISK, size=0)
        with pytest.raises(ValueError, match='unknown band'):
            render.render_galaxy(DISK, bands='gq')
