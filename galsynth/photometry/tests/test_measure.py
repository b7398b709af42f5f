# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.photometry.measure on GalSim galaxies of known truth."""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from galsynth.exceptions import NoDetectionWarning, PhotometryWarning
from galsynth.photometry import COLUMNS, PhotometryFlag, column_names, measure
from galsynth.photometry.morphology import sersic_circular_r50
from galsynth.products import make_galaxy, write_galaxy

from .conftest import SIGMA, render


def _mag(flux):
    return 22.5 - 2.5 * math.log10(flux)


class TestAccuracy:
    def test_disk(self, disk):
        row = measure(disk, morphology=False)[0]
        assert row['flags'] == 0
        # within 3 sigma of the quoted errors (which are about 0.02-0.03 mag here)
        err_r, err_g, err_i = (row[f'mag_err_{b}'].value for b in 'rgi')
        assert 0.005 < err_r < 0.04
        assert abs(row['mag_r'].value - _mag(150.0)) < 3 * err_r
        assert abs(row['color_g_r'].value - 2.5 * math.log10(1 / 0.5)) < 3 * math.hypot(err_g,
                                                                                       err_r)
        assert abs(row['color_r_i'].value - 2.5 * math.log10(1.3)) < 3 * math.hypot(err_r,
                                                                                    err_i)
        assert abs(row['mag_kron_r'].value - _mag(150.0)) < 0.1
        assert abs(row['x'].value - 31.5) < 0.3 and abs(row['y'].value - 31.5) < 0.3
        assert abs(row['sky_r'].value) < 0.01
        assert abs(row['sky_rms_r'].value / SIGMA - 1) < 0.05
        assert abs(row['psf_fwhm'].to_value(u.arcsec) - 1.4) < 1e-6  # from the SEEING card
        assert 0.15 < row['ellipticity'] < 0.35  # q = 0.7, rounded by the PSF
        assert abs(row['orientation'].to_value(u.deg) - 30) < 10
        assert row['r50_ellip'] > row['r50']
        assert row['r90'] > row['r50']
        assert 2.0 < row['concentration'] < 3.2  # exponential: C ~ 2.7 (PSF-convolved)

    def test_r50_matches_noiseless_measurement(self):
        noisy = measure(render(n=1.0, hlr=1.5, flux_r=150.0), morphology=False)[0]
        clean = measure(render(n=1.0, hlr=1.5, flux_r=150.0, noise=False), morphology=False)[0]
        assert clean['flags'] == 0
        assert abs(noisy['r50'] / clean['r50'] - 1) < 0.05
        # the PSF makes the observed radius larger than the intrinsic one
        intrinsic = sersic_circular_r50(1.5 / math.sqrt(0.7), 1.0, 0.3)
        assert 1.0 < clean['r50'].value / intrinsic < 1.35

    def test_de_vaucouleurs_total_flux(self):
        row = measure(render(n=4.0, hlr=1.5, flux_r=150.0, size=96), morphology=False)[0]
        # the dilated segment recovers most of the light of an n = 4 profile, Kron less
        assert abs(row['mag_r'].value - _mag(150.0)) < 0.1
        assert row['mag_kron_r'].value > row['mag_r'].value - 0.02

    @pytest.mark.parametrize(('background', 'high'), [('none', 2.0), ('flat', 3.5)])
    def test_errors_match_scatter(self, background, high):
        # A faint galaxy (S/N ~ 30) in 8 noise realizations. The quoted errors hold
        # the pixel noise and the sky level's error; the adaptive region adds some
        # scatter of its own (it grows where the noise is high), most with a sky fit.
        rows = measure([render(n=1.0, hlr=1.0, flux_r=20.0, size=48, seed=s)
                        for s in range(8)], morphology=False, background=background)
        scatter = np.std(rows['flux_r'].value, ddof=1)
        quoted = np.median(rows['flux_err_r'].value)
        assert 0.5 < scatter / quoted < high
        assert abs(np.median(rows['flux_r'].value) / 20.0 - 1) < 0.1
        mag_err = rows['mag_err_r'].value
        np.testing.assert_allclose(mag_err, 1.0857 * rows['flux_err_r'] / rows['flux_r'],
                                   rtol=1e-3)

    def test_ivar_errors(self):
        without = measure(render(seed=3), morphology=False)[0]
        with_ivar = measure(render(seed=3, ivar=True), morphology=False)[0]
        assert abs(with_ivar['flux_err_r'] / without['flux_err_r'] - 1) < 0.1

    @pytest.mark.parametrize('background', ['2d', 'none'])
    def test_background_models(self, background):
        hdul = render(seed=15, size=96)
        for band in 'GRI':  # a sky gradient
            y, x = np.mgrid[:96, :96]
            hdul[band].data = hdul[band].data + 0.02 + 0.0005 * x
        row = measure(hdul, morphology=False, background=background, box_size=32)[0]
        if background == '2d':
            assert abs(row['mag_r'].value - _mag(150.0)) < 3 * row['mag_err_r'].value + 0.02
            assert 0.03 < row['sky_r'].value < 0.08
        else:  # nothing subtracted: the galaxy gets the sky's light
            assert row['sky_r'].value == 0
            assert row['mag_r'].value < _mag(150.0) - 0.1

    def test_zeropoint_card_is_used(self):
        hdul = render(seed=4)
        ref = measure(hdul, morphology=False)[0]
        for band in 'GRI':  # the same fluxes in units of MAGZP = 25
            hdul[band].data = hdul[band].data * 10 ** (0.4 * 2.5)
            hdul[band].header['MAGZP'] = 25.0
        row = measure(hdul, morphology=False)[0]
        assert abs(row['flux_r'] / ref['flux_r'] - 1) < 1e-4
        assert abs(row['mag_r'] - ref['mag_r']).value < 1e-4


class TestColumns:
    def test_units_descriptions_order(self, disk):
        table = measure(disk, morphology=False)
        assert isinstance(table, QTable)
        assert table.colnames == column_names('gri', morphology=False)
        units = {'flux_r': u.nanomaggy, 'flux_err_g': u.nanomaggy, 'mag_i': u.mag,
                 'mag_err_r': u.mag, 'color_g_r': u.mag, 'r50': u.arcsec, 'r90': u.arcsec,
                 'r50_ellip': u.arcsec, 'orientation': u.deg, 'sky_rms_r': u.nanomaggy}
        for name, unit in units.items():
            assert table[name].unit == unit, name
        for name in table.colnames:
            assert table[name].info.description, name
        assert table['flags'].dtype.kind == 'i'
        assert '1 EDGE, 2 BLENDED, 4 NO_DETECTION' in table['flags'].info.description

    def test_every_column_documented(self):
        names = column_names('ugriz', morphology=True, with_file=True)
        for name in ('file', 'flux_u', 'mag_err_z', 'color_g_r', 'color_i_z', 'r50',
                     'r90', 'concentration', 'ellipticity', 'orientation', 'gini', 'm20',
                     'asymmetry', 'sersic_n', 'flags'):
            assert name in names
        patterns = set(COLUMNS)
        assert {'flux_{b}', 'flux_err_{b}', 'mag_{b}', 'mag_err_{b}'} <= patterns


class TestBadInput:
    def test_all_zero_image(self):
        hdul = make_galaxy(np.zeros((3, 32, 32)), bands='gri')
        with pytest.warns(NoDetectionWarning, match='no source detected'):
            row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.NO_DETECTION
        assert np.isnan(row['mag_r']) and np.isnan(row['r50'])

    def test_pure_noise(self):
        noise = np.random.default_rng(5).normal(0, SIGMA, (3, 32, 32))
        with pytest.warns(NoDetectionWarning):
            row = measure(make_galaxy(noise, bands='gri'), morphology=False)[0]
        assert row['flags'] & PhotometryFlag.NO_DETECTION
        assert abs(row['sky_rms_r'].value / SIGMA - 1) < 0.1  # the sky is still measured

    def test_all_nan_band(self):
        hdul = render(seed=6)
        hdul['G'].data[:] = np.nan
        with pytest.warns(PhotometryWarning, match='band G has no finite pixel'):
            row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.BAD_BAND
        assert not row['flags'] & PhotometryFlag.NO_DETECTION
        assert np.isnan(row['mag_g']) and np.isnan(row['color_g_r'])
        assert np.isfinite(row['mag_r']) and np.isfinite(row['color_r_i'])

    def test_all_nan_detection_band(self):
        hdul = render(seed=6)
        hdul['R'].data[:] = np.nan
        with pytest.warns(PhotometryWarning) as record:
            row = measure(hdul, morphology=False)[0]
        assert any(issubclass(w.category, NoDetectionWarning) for w in record)
        assert row['flags'] & PhotometryFlag.NO_DETECTION
        assert row['flags'] & PhotometryFlag.BAD_BAND
        assert np.isnan(row['mag_g'])

    def test_no_zeropoint(self):
        hdul = render(seed=7)
        del hdul['R'].header['MAGZP']
        with pytest.warns(PhotometryWarning, match='no MAGZP'):
            row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.NO_ZEROPOINT
        assert np.isnan(row['mag_r']) and np.isnan(row['flux_r'])
        assert np.isfinite(row['mag_g']) and np.isfinite(row['r50'])
        row = measure(hdul, morphology=False, zeropoint=22.5)[0]
        assert row['flags'] == 0 and np.isfinite(row['mag_r'])

    def test_galaxy_on_edge(self):
        hdul = render(seed=8, offset=(29.0, 0.0))
        with pytest.warns(PhotometryWarning, match='edge'):
            row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.EDGE
        assert row['flags'] & PhotometryFlag.OFF_CENTER
        assert np.isfinite(row['mag_r'])

    def test_missing_band(self):
        hdul = render(seed=9)
        del hdul['I']
        with pytest.warns(PhotometryWarning, match='band I is missing'):
            row = measure(hdul, bands='gri', morphology=False)[0]
        assert row['flags'] & PhotometryFlag.BAD_BAND
        assert np.isnan(row['mag_i']) and np.isfinite(row['mag_r'])

    def test_nan_pixels_in_galaxy(self):
        hdul = render(seed=10)
        hdul['G'].data[30:33, 36:39] = np.nan
        row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.MASKED_PIXELS
        # the hole is filled with the mirror image: the colour is still right
        assert abs(row['color_g_r'].value - 2.5 * math.log10(2)) < 0.05

    def test_unreadable_file(self, tmp_path):
        bad = tmp_path / 'bad.fits'
        bad.write_bytes(b'not a FITS file')
        with pytest.warns(PhotometryWarning, match='not a readable galaxy product'):
            table = measure([bad], bands='gri', morphology=False)
        assert table['flags'][0] == PhotometryFlag.BAD_INPUT
        assert table['file'][0] == str(bad)

    def test_invalid_arguments(self, disk):
        with pytest.raises(ValueError, match='detection band'):
            measure(disk, bands='gi')
        with pytest.raises(ValueError, match='background'):
            measure(disk, background='mesh')
        with pytest.raises(ValueError, match='unknown band'):
            measure(disk, detection_band='y')


class TestNeighbours:
    def test_blend(self):
        # an equally bright neighbour 4.5 arcsec away (11 pixels, 3 PSF FWHM)
        hdul = render(seed=11, extra=[(1.0, 1.2, 150.0, 4.5, 0.0)], hlr=1.2)
        row = measure(hdul, morphology=False)[0]
        assert row['flags'] & PhotometryFlag.BLENDED
        assert abs(row['mag_r'].value - _mag(150.0)) < 0.1
        assert abs(row['x'].value - 31.5) < 1.0
        # without deblending, both galaxies count
        merged = measure(hdul, morphology=False, deblend=False)[0]
        assert abs(merged['mag_r'].value - _mag(300.0)) < 0.1

    def test_star_nearby_is_masked(self):
        hdul = render(seed=12, extra=[(0.5, 0.1, 300.0, -7.0, 5.0)], size=64)
        row = measure(hdul, morphology=False)[0]
        assert abs(row['mag_r'].value - _mag(150.0)) < 0.05

    def test_off_center(self):
        row = measure(render(seed=13, offset=(12.0, 0.0)), morphology=False)[0]
        assert row['flags'] & PhotometryFlag.OFF_CENTER
        assert not row['flags'] & PhotometryFlag.EDGE


class TestMorphology:
    @pytest.mark.parametrize(('n', 'size', 'low', 'high'),
                             [(1.0, 64, 0.6, 1.6), (4.0, 96, 2.5, 6.5)])
    def test_sersic_fit(self, n, size, low, high):
        hdul = render(n=n, hlr=1.5, flux_r=300.0, q=0.6, size=size, seed=14)
        row = measure(hdul, morphology=True)[0]
        assert low < row['sersic_n'] < high
        # PSF-corrected: the intrinsic radius, unlike the observed r50
        truth = sersic_circular_r50(1.5 / math.sqrt(0.6), n, 0.4)
        assert row['r50'].value > 1.05 * truth
        assert abs(row['r50_psfcorr'].value / truth - 1) < 0.1
        assert abs(row['sersic_r50'].value / truth - 1) < 0.15
        assert abs(row['sersic_ellipticity'] - 0.4) < 0.1
        assert 0.35 < row['gini'] < 0.75
        assert -2.6 < row['m20'] < -1.2
        assert abs(row['asymmetry']) < 0.15
        assert row['morph_flag'] in (0, 1)
        for name in ('gini', 'm20', 'asymmetry', 'sersic_n', 'sersic_r50', 'r50_psfcorr'):
            assert row.table[name].info.description


class TestInterface:
    def test_paths_and_jobs(self, tmp_path):
        paths = []
        for k in range(3):
            path = tmp_path / f'g{k}.fits'
            write_galaxy(render(seed=20 + k, size=48), path)
            paths.append(path)
        bad = tmp_path / 'zero.fits'
        write_galaxy(make_galaxy(np.zeros((3, 48, 48)), bands='gri'), bad)
        paths.append(bad)
        with pytest.warns(NoDetectionWarning, match='zero.fits'):
            serial = measure(paths, morphology=False)
        with pytest.warns(NoDetectionWarning, match='zero.fits'):  # re-emitted from a worker
            parallel = measure([str(p) for p in paths], morphology=False, jobs=2)
        assert list(serial['file']) == [str(p) for p in paths]
        for name in serial.colnames:
            if name != 'file':
                np.testing.assert_array_equal(np.asarray(serial[name]),
                                              np.asarray(parallel[name]), err_msg=name)
        assert serial['flags'][3] & PhotometryFlag.NO_DETECTION

    def test_hdulist_and_list(self, disk):
        one = measure(disk, morphology=False)
        two = measure([disk, disk], morphology=False)
        assert len(one) == 1 and len(two) == 2
        assert 'file' not in one.colnames
        assert two['mag_r'][0] == two['mag_r'][1] == one['mag_r'][0]

    def test_input_not_modified(self, disk):
        before = [h.data.copy() for h in disk if isinstance(h, fits.ImageHDU)]
        measure(disk, morphology=False)
        after = [h.data for h in disk if isinstance(h, fits.ImageHDU)]
        for b, a in zip(before, after, strict=True):
            np.testing.assert_array_equal(a, b)
