# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the SED templates, K-corrections and colours."""

import galsim
import numpy as np
import pytest

from galsynth.bands import galsim_bandpass
from galsynth.simulation import sed
from galsynth.simulation.population import component_fluxes


class TestKCorrectionTable:
    @pytest.mark.parametrize(('name', 'z', 'band'), [('E', 0.0, 'g'), ('E', 0.137, 'r'),
                                                     ('Sbc', 0.05, 'u'), ('Scd', 0.3, 'i'),
                                                     ('Im', 0.21, 'z'), ('Im', 0.8, 'r')])
    def test_matches_galsim(self, name, z, band):
        """The numpy band integrals agree with GalSim's calculateMagnitude."""
        index = sed.TEMPLATES.index(name)
        direct = (sed.template_magnitude(name, z, band)
                  - sed.template_magnitude(name, 0.1, 'r') - 2.5 * np.log10(1.1))
        assert abs(sed.kcorrection(index, z, band) - direct) < 1e-3

    def test_reference_band(self):
        """K-correction to ^{0.1}r at z = 0.1 in r is -2.5 log10(1.1) for every SED."""
        k = sed.kcorrection(np.array([0.0, 1.0, 1.7, 3.0]), 0.1, 'r')
        np.testing.assert_allclose(k, -2.5 * np.log10(1.1), atol=1e-6)

    def test_colour_sequence(self):
        """E is redder than Sbc, Scd and Im, in rest-frame and observed colours."""
        ur = sed.rest_frame_colour(np.arange(4.0), 'u', 'r')
        assert np.all(np.diff(ur) < 0)
        assert 2.3 < ur[0] < 2.8  # elliptical: on the red sequence (Baldry et al. 2004)
        f = sed.flux_factors(np.arange(4.0), 0.1, 'gr')
        gr = -2.5 * np.log10(f[:, 0] / f[:, 1])
        assert np.all(np.diff(gr) < 0)

    def test_mixed_sed(self):
        """A fractional index is the flux mixture of its neighbouring templates."""
        mix = sed.mixed_sed(1.4)
        for z in (0.0, 0.15):
            m = {b: mix.atRedshift(z).calculateMagnitude(galsim_bandpass(b)) for b in 'gr'}
            f = sed.flux_factors(1.4, z, 'gr')
            assert abs((m['g'] - m['r']) + 2.5 * np.log10(f[0] / f[1])) < 2e-3

    def test_bad_index(self):
        with pytest.raises(ValueError, match='template index'):
            sed.flux_factors(3.5, 0.1)
        with pytest.raises(ValueError, match='redshift'):
            sed.flux_factors(1.0, 1.5)
        with pytest.raises(ValueError, match='unknown SED template'):
            sed.template_sed('S0')


class TestChromatic:
    def test_component_fluxes_match_galsim_chromatic(self):
        """Band fluxes equal those of GalSim chromatic objects with the same SEDs."""
        z, bt, tb, td, mag_r = 0.08, 0.35, 0.1, 1.8, 16.0
        bulge, disk, _, _ = component_fluxes(z, tb, td, bt, mag_r=mag_r, bands='gri')
        bp = {b: galsim_bandpass(b) for b in 'gri'}
        sb = sed.mixed_sed(tb).atRedshift(z)
        sd = sed.mixed_sed(td).atRedshift(z)
        # Normalize the two SEDs to the bulge and disk r-band fluxes (nanomaggies -> AB mag).
        sb = sb.withMagnitude(22.5 - 2.5 * np.log10(bulge[1]), bp['r'])
        sd = sd.withMagnitude(22.5 - 2.5 * np.log10(disk[1]), bp['r'])
        gal = (galsim.DeVaucouleurs(half_light_radius=0.5) * sb
               + galsim.Exponential(half_light_radius=1.5) * sd)
        for k, b in enumerate('gri'):
            mag = gal.calculateMagnitude(bp[b])
            assert abs(mag - (22.5 - 2.5 * np.log10(bulge[k] + disk[k]))) < 2e-3
