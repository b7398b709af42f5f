# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.bands."""

import astropy.units as u
import numpy as np
import pytest

from galsynth import bands


class TestUnits:
    def test_zeropoint(self):
        assert bands.flux_to_mag(1.0) == pytest.approx(22.5)
        assert bands.mag_to_flux(22.5) == pytest.approx(1.0)
        assert bands.flux_to_mag(100.0) == pytest.approx(17.5)

    def test_round_trip_arrays_and_quantities(self):
        mags = np.array([12.0, 17.77, 24.0])
        np.testing.assert_allclose(bands.flux_to_mag(bands.mag_to_flux(mags)), mags)
        q = bands.mag_to_flux(mags * u.mag)
        assert q.unit == bands.nanomaggy
        back = bands.flux_to_mag(q)
        assert back.unit == u.mag
        np.testing.assert_allclose(back.value, mags)

    def test_nanomaggy_is_ab(self):
        # 1 nanomaggy = 3.631 microJansky: AB magnitude of 3.631e-6 Jy is 22.5
        assert (3.631e-6 * u.Jy).to(u.ABmag).value == pytest.approx(22.5, abs=1e-4)
        assert bands.nanomaggy.to(u.mgy) == pytest.approx(1e-9)

    def test_non_positive_flux_is_nan(self):
        out = bands.flux_to_mag(np.array([-1.0, 0.0, 1.0]))
        assert np.isnan(out[:2]).all() and out[2] == pytest.approx(22.5)

    def test_mag_err(self):
        assert bands.flux_err_to_mag_err(100.0, 1.0) == pytest.approx(0.010857, rel=1e-4)


class TestFilters:
    def test_check_bands(self):
        assert bands.check_bands('GRI') == ('g', 'r', 'i')
        for bad, match in (('gry', 'unknown band'), ('', 'no bands'), ('gg', 'repeated')):
            with pytest.raises(ValueError, match=match):
                bands.check_bands(bad)

    def test_effective_wavelengths_increase(self):
        lam = [bands.effective_wavelength(b).value for b in bands.BANDS]
        assert np.all(np.diff(lam) > 0)
        assert 6000 < bands.effective_wavelength('r').value < 6400

    def test_galsim_bandpass_ab_zeropoint(self):
        import galsim

        bp = bands.galsim_bandpass('r')
        # A flat f_nu spectrum of 3631 Jy has AB magnitude 0 in every band.
        flat = galsim.SED(lambda w: 1.0, wave_type='nm', flux_type='fnu')
        sed = flat.withMagnitude(18.0, bp)
        assert sed.calculateMagnitude(bp) == pytest.approx(18.0, abs=1e-6)
        assert sed.calculateMagnitude(bands.galsim_bandpass('g')) == pytest.approx(18.0, abs=1e-3)
