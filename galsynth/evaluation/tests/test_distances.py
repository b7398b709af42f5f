# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.evaluation.distances."""

import math

import astropy.units as u
import numpy as np
import pytest
import scipy.linalg
from astropy.table import QTable, Table

from galsynth.evaluation.distances import (
    energy_test,
    frechet_distance,
    ks_tests,
    property_distances,
    property_frechet_distance,
    standardized_properties,
    wasserstein_distances,
)
from galsynth.evaluation.fid import feature_statistics, fid_from_features


def _random_rotation(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


class TestFrechetDistance:
    def test_commuting_gaussians_closed_form(self):
        rng = np.random.default_rng(1)
        d = 12
        q = _random_rotation(rng, d)
        a = rng.uniform(0.1, 5.0, d)
        b = rng.uniform(0.1, 5.0, d)
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1 = q @ np.diag(a) @ q.T
        s2 = q @ np.diag(b) @ q.T
        expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)

    def test_non_commuting_2d_closed_form(self):
        # For 2x2 matrices with positive eigenvalues, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
        s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
        s2 = np.array([[0.5, -0.3], [-0.3, 3.0]])
        mu1, mu2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
        tr_sqrt = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1 @ s2)))
        expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)

    def test_matches_scipy_sqrtm_well_conditioned(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(400, 30))
        y = rng.normal(size=(300, 30)) @ rng.normal(size=(30, 30)) * 0.3 + 0.2
        mu1, s1 = feature_statistics(x)
        mu2, s2 = feature_statistics(y)
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)

    def test_identical_singular_covariances_give_zero(self):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(5, 50))  # rank 4 covariance in 50 dimensions
        mu, s = feature_statistics(x)
        value = frechet_distance(mu, s, mu, s)
        assert value >= 0
        assert value < 1e-9 * np.trace(s)

    def test_bad_input(self):
        with pytest.raises(ValueError, match='shapes'):
            frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
        with pytest.raises(ValueError, match='non-finite'):
            frechet_distance(np.array([np.nan, 0]), np.eye(2), np.zeros(2), np.eye(2))


class TestFidFromFeatures:
    @pytest.mark.parametrize(('n1', 'n2'), [(8, 11), (60, 90)])
    def test_agrees_with_covariance_formula(self, n1, n2):
        rng = np.random.default_rng(4)
        d = 40
        f1 = rng.normal(size=(n1, d))
        f2 = rng.normal(size=(n2, d)) * 1.3 + 0.1
        expected = frechet_distance(*feature_statistics(f1), *feature_statistics(f2))
        assert fid_from_features(f1, f2) == pytest.approx(expected, rel=1e-8)

    def test_self_is_zero(self):
        f = np.random.default_rng(5).normal(size=(10, 2048))
        assert fid_from_features(f, f) < 1e-8 * np.sum(np.var(f, axis=0))


def _tables(rng, n=3000, shift=0.0, scale=1.0):
    def make(n, shift, scale):
        t = QTable()
        t['mag_g'] = (rng.normal(17.5, 1.0, n) + shift) * u.mag
        t['mag_r'] = (rng.normal(17.0, 1.0, n) + shift) * u.mag
        t['color_g_r'] = rng.normal(0.6, 0.2 * scale, n) * u.mag
        t['r50'] = np.exp(rng.normal(1.0, 0.3, n)) * u.arcsec
        t['gini'] = rng.uniform(0.3, 0.7, n)
        t['mag_kron_r'] = t['mag_r'] + 0.1 * u.mag  # not a default property
        t['mag_err_r'] = np.full(n, 0.01) * u.mag
        return t
    return make(n, 0.0, 1.0), make(n, shift, scale)


class TestPropertyDistances:
    def test_selection_and_standardization(self):
        real, gen = _tables(np.random.default_rng(6), n=500)
        names, xr, xg, center, scale = standardized_properties(real, gen)
        assert names == ['mag_g', 'mag_r', 'color_g_r', 'r50', 'gini']
        np.testing.assert_allclose(np.nanmean(xr, axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(np.nanstd(xr, axis=0, ddof=1), 1, rtol=1e-12)
        assert xg.shape == (500, 5)

    def test_units_are_converted(self):
        real, gen = _tables(np.random.default_rng(7), n=400)
        gen2 = gen.copy()
        gen2['r50'] = gen2['r50'].to(u.arcmin)
        w1 = wasserstein_distances(real, gen, properties=['r50'])
        w2 = wasserstein_distances(real, gen2, properties=['r50'])
        assert w1['r50'] == pytest.approx(w2['r50'], rel=1e-10)

    def test_wasserstein_of_a_shift(self):
        # Shift magnitudes by 0.5 sigma: standardized W1 = 0.5; other properties ~0.
        real, gen = _tables(np.random.default_rng(8), n=4000, shift=0.5)
        w = wasserstein_distances(real, gen)
        assert w['mag_r'] == pytest.approx(0.5, abs=0.05)
        assert w['mag_g'] == pytest.approx(0.5, abs=0.05)
        assert w['gini'] < 0.06

    def test_identical_samples(self):
        real, _ = _tables(np.random.default_rng(9), n=300)
        res = property_distances(real, real.copy(), n_permutations=99)
        assert res['wasserstein_mean'] == 0
        assert res['property_frechet'] < 1e-10
        assert all(v['pvalue'] == 1.0 for v in res['ks'].values())
        assert res['energy']['pvalue'] > 0.5

    def test_frechet_grows_with_difference(self):
        rng = np.random.default_rng(10)
        values = []
        for shift in (0.0, 0.3, 1.0):
            real, gen = _tables(rng, n=2000, shift=shift)
            values.append(property_frechet_distance(real, gen))
        assert values[0] < values[1] < values[2]
        # Two magnitudes shifted by 1 sigma each: |dmu|^2 = 2.
        assert values[2] == pytest.approx(2.0, rel=0.15)

    def test_tests_detect_a_difference(self):
        real, gen = _tables(np.random.default_rng(11), n=400, shift=0.4)
        ks = ks_tests(real, gen)
        assert ks['mag_r']['pvalue'] < 1e-3
        assert ks['gini']['pvalue'] > 1e-3
        en = energy_test(real, gen, n_permutations=199, seed=1)
        assert en['pvalue'] == pytest.approx(1 / 200)
        assert en['energy_distance'] > 0

    def test_energy_same_distribution_not_rejected_and_seeded(self):
        rng = np.random.default_rng(12)
        real, gen = _tables(rng, n=300)
        a = energy_test(real, gen, n_permutations=199, seed=3)
        b = energy_test(real, gen, n_permutations=199, seed=3)
        assert a == b
        assert a['pvalue'] > 0.01

    def test_nan_values_are_left_out(self):
        real, gen = _tables(np.random.default_rng(13), n=300)
        gen['gini'][:50] = np.nan
        res = property_distances(real, gen, n_permutations=49)
        assert math.isfinite(res['wasserstein']['gini'])
        assert res['n_generated_complete'] == 250

    def test_plain_table_and_errors(self):
        real = Table({'mag_r': [17.0, 18.0, 19.0], 'gini': [0.4, 0.5, 0.6]})
        gen = Table({'mag_r': [17.5, 18.5, 19.5], 'gini': [0.4, 0.5, 0.6]})
        w = wasserstein_distances(real, gen)
        assert w['mag_r'] == pytest.approx(0.5)
        with pytest.raises(ValueError, match='not a column of the generated'):
            wasserstein_distances(real, gen['mag_r', ], properties=['gini'])
        with pytest.raises(ValueError, match='no spread'):
            wasserstein_distances(Table({'gini': [0.5, 0.5]}), gen, properties=['gini'])
        with pytest.raises(ValueError, match='no property in common'):
            wasserstein_distances(Table({'a': [1.0]}), Table({'b': [1.0]}))
