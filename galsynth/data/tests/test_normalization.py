# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.data.normalization."""

import json

import numpy as np
import pytest
import torch

from galsynth.data.normalization import NORMALIZATION_PARAMETERS, Normalization
from galsynth.products import make_galaxy

EPS32 = np.finfo(np.float32).eps


@pytest.fixture(scope='module')
def cubes():
    """Fake galaxy cubes in nanomaggies: sky noise plus a bright exponential profile."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:48, 0:48]
    r = np.hypot(xx - 23.5, yy - 23.5)
    n, c = 12, 3
    amp = rng.uniform(1, 100, (n, c, 1, 1))
    scale = rng.uniform(0.5, 2, (n, 1, 1, 1))
    data = amp * np.exp(-r / scale) + rng.normal(0, 0.03, (n, c, 48, 48))
    return data.astype(np.float32)


class TestRoundTrip:
    @pytest.mark.parametrize('kind', ['minmax', 'asinh'])
    def test_numpy_and_torch(self, cubes, kind):
        norm = Normalization.fit(cubes, kind=kind, bands='gri')
        y = norm.forward(cubes)
        assert y.dtype == np.float32 and y.shape == cubes.shape
        # Fitted on the whole set: it spans exactly [-1, 1].
        assert y.min() == pytest.approx(-1, abs=1e-6) and y.max() == pytest.approx(1, abs=1e-6)
        back = norm.inverse(y)
        assert back.dtype == np.float32
        if kind == 'minmax':
            # float32 y resolves (max - min) * eps / 2 in nanomaggies.
            tol = 2 * EPS32 * (norm.params['max'] - norm.params['min']).reshape(1, -1, 1, 1)
            assert np.all(np.abs(back - cubes) <= tol + 2 * EPS32 * np.abs(cubes))
        else:
            tol = 8 * EPS32 * np.maximum(np.abs(cubes), norm.params['softening'].reshape(
                1, -1, 1, 1))
            assert np.all(np.abs(back - cubes) <= tol)
        # torch: same numbers, same dtype, on any leading shape.
        yt = norm.forward(torch.from_numpy(cubes))
        assert yt.dtype == torch.float32
        np.testing.assert_array_equal(yt.numpy(), y)
        np.testing.assert_array_equal(norm.inverse(yt).numpy(), back)
        assert norm.forward(cubes[0]).shape == cubes[0].shape
        assert norm.forward(cubes[None]).shape == (1,) + cubes.shape

    def test_network_side_round_trip(self, cubes):
        norm = Normalization.fit(cubes, kind='asinh', bands='gri')
        y = np.random.default_rng(2).uniform(-1.2, 1.2, (4, 3, 8, 8)).astype(np.float32)
        np.testing.assert_allclose(norm.forward(norm.inverse(y)), y, rtol=0, atol=4 * EPS32)

    def test_float64_and_gradients(self, cubes):
        norm = Normalization.fit(cubes, kind='asinh', bands='gri')
        x = torch.from_numpy(cubes[:2].astype(np.float64)).requires_grad_()
        y = norm.forward(x)
        assert y.dtype == torch.float64
        y.sum().backward()
        assert torch.isfinite(x.grad).all() and (x.grad > 0).all()

    def test_asinh_formula(self):
        norm = Normalization('asinh', 'r', softening=[0.05], offset=[1.0], scale=[4.0])
        x = np.array([[[0.0, 0.05, 10.0]]])
        np.testing.assert_allclose(norm.forward(x), (np.arcsinh(x / 0.05) - 1) / 4)

    def test_rgb8(self):
        norm = Normalization('rgb8')
        x = np.array([0, 127.5, 255], dtype=np.float32).reshape(3, 1, 1)
        np.testing.assert_array_equal(norm.forward(x).ravel(), [-1, 0, 1])
        assert norm.forward(np.zeros((3, 2, 2), np.uint8)).dtype == np.float32
        np.testing.assert_array_equal(norm.inverse(norm.forward(x)), x)
        assert Normalization.fit(None, kind='rgb8', bands='RGB') == norm


class TestFit:
    def test_softening_is_sky_noise(self, cubes):
        norm = Normalization.fit(cubes, kind='asinh', bands='gri')
        np.testing.assert_allclose(norm.params['softening'], 0.03, rtol=0.1)

    def test_noiseless_softening(self):
        img = np.zeros((1, 1, 16, 16))
        img[0, 0, 6:10, 6:10] = 50.0
        norm = Normalization.fit(img, kind='asinh', bands='r')
        assert norm.params['softening'][0] == pytest.approx(1e-3 * img.max())

    def test_given_softening_and_percentiles(self, cubes):
        norm = Normalization.fit(cubes, kind='asinh', bands='gri', softening=0.1,
                                 percentiles=(1, 99))
        np.testing.assert_array_equal(norm.params['softening'], [0.1] * 3)
        y = norm.forward(cubes)
        assert -1.5 < y.min() < -0.9 and 1 < y.max()

    def test_iterable_and_tensor(self, cubes):
        a = Normalization.fit(cubes, kind='minmax', bands='gri')
        assert Normalization.fit(list(cubes), kind='minmax', bands='gri') == a
        assert Normalization.fit(torch.from_numpy(cubes), kind='minmax', bands='gri') == a

    def test_constant_band(self):
        with pytest.raises(ValueError, match="band 'r' is constant"):
            Normalization.fit(np.zeros((2, 1, 4, 4)), kind='minmax', bands='r')

    def test_bad_shape(self, cubes):
        with pytest.raises(ValueError, match=r'\(N, 2, H, W\)'):
            Normalization.fit(cubes, kind='minmax', bands='gr')
        norm = Normalization.fit(cubes, kind='minmax', bands='gri')
        with pytest.raises(ValueError, match=r'\(\.\.\., 3, H, W\)'):
            norm.forward(np.zeros((2, 4, 4)))


class TestSerialization:
    @pytest.mark.parametrize('kind', ['minmax', 'asinh'])
    def test_dict_and_header(self, cubes, kind):
        norm = Normalization.fit(cubes, kind=kind, bands='gri')
        d = norm.to_dict()
        assert d['kind'] == kind and d['bands'] == 'gri'
        assert json.loads(json.dumps(d)) == d
        assert Normalization.from_dict(d) == norm
        # What make_galaxy writes into a generated product reads back exactly.
        hdul = make_galaxy(cubes[0], bands='gri', normalization=d)
        hdr = hdul[0].header
        assert hdr['NORMKIND'] == kind
        assert Normalization.from_header(hdr) == norm
        x = norm.inverse(norm.forward(cubes))
        np.testing.assert_array_equal(Normalization.from_header(hdr).inverse(
            norm.forward(cubes)), x)

    def test_parameter_cards_distinct(self):
        for names in NORMALIZATION_PARAMETERS.values():
            assert len({n[:3] for n in names}) == len(names)

    def test_header_errors(self):
        with pytest.raises(ValueError, match='no NORMKIND'):
            Normalization.from_header({})
        with pytest.raises(ValueError, match=r"lacks normalization card\(s\) \['NMAX0'"):
            Normalization.from_header({'NORMKIND': 'minmax', 'BANDS': 'r', 'NMIN0': 0.0})

    def test_equality_and_validation(self):
        a = Normalization('minmax', 'r', min=[0.0], max=[1.0])
        assert a == Normalization('minmax', ['R'], min=0.0, max=1.0)
        assert a != Normalization('minmax', 'r', min=[0.0], max=[2.0])
        assert a != Normalization('minmax', 'g', min=[0.0], max=[1.0])
        with pytest.raises(ValueError, match='unknown normalization kind'):
            Normalization('log', 'r')
        with pytest.raises(ValueError, match='missing'):
            Normalization('minmax', 'r', min=[0.0])
        with pytest.raises(ValueError, match='needs 2 values'):
            Normalization('minmax', 'gr', min=[0.0], max=[1.0])
        with pytest.raises(ValueError, match='max > min'):
            Normalization('minmax', 'r', min=[1.0], max=[1.0])
        with pytest.raises(ValueError, match='must be > 0'):
            Normalization('asinh', 'r', softening=[0.0], offset=[0.0], scale=[1.0])
        assert 'minmax' in repr(a)
