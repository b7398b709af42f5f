# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.evaluation.cmd."""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.cosmology import Planck18
from astropy.table import QTable
from scipy import stats

from galsynth.evaluation.cmd import (
    CMDBox,
    absolute_magnitude,
    cmd_acceptance,
    cmd_box,
    cmd_points,
    fraction_inside,
    generated_redshifts,
    plot_cmd,
    real_baseline,
)

# Hand-computed case. Real (M_r, g-r): M = -20, -21, -22, -19, -18 -> median -20,
# std (ddof=1) = sqrt(2.5) = 1.58114, k = 1.75 -> half-width 2.76699: box [-22.767, -17.233].
# g-r = 0.5 ... 0.9 -> median 0.7, std = sqrt(0.025) = 0.158114 -> half-width 0.276699:
# box [0.42330, 0.97670].
REAL_M = np.array([-20.0, -21.0, -22.0, -19.0, -18.0])
REAL_C = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
GEN = np.array([
    [-20.0, 0.70],   # centre: in
    [-22.7, 0.43],   # near the bright, blue corner: in
    [-22.8, 0.70],   # too bright: out
    [-20.0, 0.98],   # too red: out
    [-17.3, 0.95],   # faint and red but inside: in
    [np.nan, 0.70],  # no magnitude: out
    [-20.0, 0.42],   # too blue: out
])
EXPECTED = 3 / 7


def _table(m_abs, color, z):
    t = QTable()
    dm = Planck18.distmod(z).to_value(u.mag)
    t['mag_r'] = (np.asarray(m_abs) + dm) * u.mag
    t['mag_g'] = t['mag_r'] + np.asarray(color) * u.mag
    t['color_g_r'] = np.asarray(color) * u.mag
    return t


class TestHandComputed:
    def test_box(self):
        box = cmd_box(np.column_stack([REAL_M, REAL_C]))
        assert box.center == pytest.approx((-20.0, 0.7))
        assert box.half_width == pytest.approx((1.75 * math.sqrt(2.5), 1.75 * math.sqrt(0.025)))
        assert box.k == 1.75

    def test_fraction_inside(self):
        box = cmd_box(np.column_stack([REAL_M, REAL_C]))
        inside = box.contains(GEN)
        assert inside.tolist() == [True, True, False, False, True, False, False]
        assert fraction_inside(box, GEN) == EXPECTED

    def test_end_to_end_from_apparent_magnitudes(self):
        z = 0.05
        real = _table(REAL_M, REAL_C, z)
        real['redshift'] = np.full(5, z)
        gen = _table(GEN[:, 0], GEN[:, 1], z)  # the real median redshift is z
        res = cmd_acceptance(real, gen, n_splits=20, seed=1)
        assert res.acceptance == EXPECTED
        assert res.n_inside == 3
        assert res.n_generated == 7
        assert res.n_generated_nonfinite == 1
        np.testing.assert_allclose(res.generated_points[:, 0], GEN[:, 0], atol=1e-9)
        assert 'median redshift' in res.redshift_description
        assert res.ratio == pytest.approx(res.acceptance / res.real_baseline)
        d = res.to_dict()
        assert d['box_center']['M_r'] == pytest.approx(-20.0)
        assert d['acceptance'] == EXPECTED

    def test_colour_from_magnitudes_and_given_redshift(self):
        real = _table(REAL_M, REAL_C, 0.1)
        del real['color_g_r']
        pts = cmd_points(real, redshift=0.1)
        np.testing.assert_allclose(pts, np.column_stack([REAL_M, REAL_C]), atol=1e-9)

    def test_edges_are_inside(self):
        box = CMDBox(center=(0.0, 0.0), half_width=(1.0, 2.0), k=1.0)
        assert box.contains([[1.0, -2.0], [1.0 + 1e-12, 0.0]]).tolist() == [True, False]


class TestRealBaseline:
    def test_gaussian_2d_is_85_percent(self):
        rng = np.random.default_rng(42)
        pts = np.column_stack([rng.normal(-20.5, 1.0, 2000), rng.normal(0.65, 0.15, 2000)])
        mean, std = real_baseline(pts, n_splits=200, seed=0)
        expected = (stats.norm.cdf(1.75) - stats.norm.cdf(-1.75)) ** 2  # 0.8462
        assert expected == pytest.approx(0.846, abs=1e-3)
        assert mean == pytest.approx(expected, abs=0.02)
        assert 0 < std < 0.03

    def test_seeded(self):
        pts = np.random.default_rng(1).normal(size=(100, 2))
        assert real_baseline(pts, n_splits=30, seed=5) == real_baseline(pts, n_splits=30, seed=5)

    def test_too_few(self):
        with pytest.raises(ValueError, match='at least 4'):
            real_baseline(np.zeros((3, 2)))


class TestRedshifts:
    def test_specs(self):
        z, text = generated_redshifts('median', 3, real_redshifts=[0.02, 0.04, -1, 0.1])
        assert z.tolist() == [0.04] * 3
        assert 'median' in text
        z, _ = generated_redshifts(0.07, 2)
        assert z.tolist() == [0.07, 0.07]
        z, _ = generated_redshifts([0.1, 0.2], 2)
        assert z.tolist() == [0.1, 0.2]
        z1, _ = generated_redshifts([0.01, 0.02, 0.03], 10, seed=3)
        z2, _ = generated_redshifts([0.01, 0.02, 0.03], 10, seed=3)
        assert np.array_equal(z1, z2)
        assert set(z1) <= {0.01, 0.02, 0.03}
        z, _ = generated_redshifts(stats.uniform(0.02, 0.03), 50, seed=1)
        assert np.all((z >= 0.02) & (z <= 0.05))

    def test_errors(self):
        with pytest.raises(ValueError, match='known redshifts'):
            generated_redshifts('median', 3, real_redshifts=[-1.0])
        with pytest.raises(ValueError, match="'median'"):
            generated_redshifts('mean', 3)
        with pytest.raises(ValueError, match='> 0'):
            absolute_magnitude(17.0, 0.0)
        real = _table(REAL_M, REAL_C, 0.05)
        with pytest.raises(ValueError, match='no redshift column'):
            cmd_points(real)

    def test_absolute_magnitude_planck18(self):
        m = absolute_magnitude([17.0, np.nan], [0.05, 0.05])
        assert m[0] == pytest.approx(17.0 - Planck18.distmod(0.05).value, abs=1e-9)
        assert np.isnan(m[1])


class TestPlot:
    def test_writes_png(self, tmp_path):
        rng = np.random.default_rng(0)
        real = _table(rng.normal(-20, 1, 60), rng.normal(0.6, 0.15, 60), 0.05)
        real['redshift'] = 0.05
        gen = _table(rng.normal(-20.3, 1, 40), rng.normal(0.65, 0.2, 40), 0.05)
        res = cmd_acceptance(real, gen, n_splits=10)
        path = tmp_path / 'cmd.png'
        fig = plot_cmd(res, path)
        assert len(fig.axes) == 3
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        with pytest.raises(FileExistsError):
            plot_cmd(res, path)
