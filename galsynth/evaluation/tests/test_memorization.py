# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.evaluation.memorization."""

import math

import numpy as np
import pytest
import torch

from galsynth.evaluation.memorization import memorization, nearest_neighbors, normalize_images


def _brute_force(queries, refs, k, border=0):
    if border:
        queries = queries[..., border:-border, border:-border]
        refs = refs[..., border:-border, border:-border]
    q = queries.reshape(len(queries), -1).astype(np.float64)
    r = refs.reshape(len(refs), -1).astype(np.float64)
    mse = ((q[:, None, :] - r[None, :, :]) ** 2).mean(axis=2)
    idx = np.argsort(mse, axis=1, kind='stable')[:, :k]
    return np.take_along_axis(mse, idx, axis=1), idx


class TestNearestNeighbors:
    def test_finds_a_planted_copy(self):
        rng = np.random.default_rng(0)
        train = rng.random((500, 3, 16, 16), dtype=np.float32)
        gen = rng.random((6, 3, 16, 16), dtype=np.float32)
        gen[2] = train[123]
        gen[4] = train[456] + rng.normal(0, 1e-3, (3, 16, 16)).astype(np.float32)
        mse, idx = nearest_neighbors(gen, train, k=4, chunk_size=64)
        assert idx[2, 0] == 123
        assert mse[2, 0] == 0.0
        assert idx[4, 0] == 456
        assert mse[4, 0] == pytest.approx(1e-6, rel=0.2)
        others = [0, 1, 3, 5]
        assert np.all(mse[others, 0] > 0.05)
        assert np.all(np.diff(mse, axis=1) >= 0)

    @pytest.mark.parametrize('chunk_size', [7, 1000])
    def test_matches_brute_force(self, chunk_size):
        rng = np.random.default_rng(1)
        train = rng.normal(size=(120, 2, 8, 8)).astype(np.float32)
        gen = rng.normal(size=(9, 2, 8, 8)).astype(np.float32)
        mse, idx = nearest_neighbors(gen, train, k=5, chunk_size=chunk_size, candidates=0)
        mse_bf, idx_bf = _brute_force(gen, train, 5)
        np.testing.assert_array_equal(idx, idx_bf)
        np.testing.assert_allclose(mse, mse_bf, rtol=1e-6)

    def test_border_is_ignored(self):
        rng = np.random.default_rng(2)
        train = rng.random((50, 1, 12, 12), dtype=np.float32)
        gen = train[[10, 20]].copy()
        gen[:, :, :2, :] = 5.0  # differs only within 2 pixels of the edge
        gen[:, :, :, -2:] = 5.0
        mse, idx = nearest_neighbors(gen, train, k=1, border=2)
        assert idx[:, 0].tolist() == [10, 20]
        assert np.all(mse == 0.0)
        mse_bf, _ = _brute_force(gen, train, 3, border=2)
        mse3, _ = nearest_neighbors(gen, train, k=3, border=2)
        np.testing.assert_allclose(mse3, mse_bf, rtol=1e-6)
        with pytest.raises(ValueError, match='border'):
            nearest_neighbors(gen, train, border=6)

    def test_large_common_level_no_cancellation(self):
        # Images on a level of 1000 with differences of 1e-2: the expanded form in
        # float32 alone could not rank them.
        rng = np.random.default_rng(3)
        train = (1000.0 + rng.normal(0, 1e-2, (300, 1, 16, 16))).astype(np.float32)
        gen = train[[7, 250]] + np.float32(1e-3) * rng.normal(size=(2, 1, 16, 16)).astype(
            np.float32)
        _, idx = nearest_neighbors(gen, train, k=1)
        assert idx[:, 0].tolist() == [7, 250]

    def test_torch_input_and_errors(self):
        rng = np.random.default_rng(4)
        train = torch.from_numpy(rng.random((20, 1, 4, 4), dtype=np.float32))
        _, idx = nearest_neighbors(train[[3]], train, k=2)
        assert idx[0, 0] == 3
        with pytest.raises(ValueError, match='shape'):
            nearest_neighbors(np.zeros((1, 1, 4, 5)), np.zeros((2, 1, 4, 4)))
        with pytest.raises(ValueError, match='k must be'):
            nearest_neighbors(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 4, 4)), k=3)


class TestNormalize:
    def test_minmax(self):
        x = np.array([[[[1.0, 3.0], [np.nan, 2.0]], [[5.0, 5.0], [5.0, 5.0]]]])
        out = normalize_images(x)
        np.testing.assert_allclose(out[0, 0], [[1 / 3, 1.0], [0.0, 2 / 3]])
        np.testing.assert_allclose(out[0, 1], 0.0)
        assert out.dtype == np.float32

    def test_asinh_and_errors(self):
        np.testing.assert_allclose(normalize_images(np.array([[0.05]]), method='asinh'),
                                   [[np.arcsinh(1.0)]], rtol=1e-6)
        with pytest.raises(ValueError, match='unknown normalization'):
            normalize_images(np.zeros((1, 2, 2)), method='zscale')


class TestMemorization:
    def test_copies_are_closer_than_heldout(self):
        rng = np.random.default_rng(5)
        pool = rng.random((260, 1, 10, 10), dtype=np.float32)
        train, heldout = pool[:200], pool[200:230]
        fresh = pool[230:]
        gen = np.concatenate([train[:10], fresh])  # 10 copies, 30 new images
        res = memorization(gen, train, heldout, k=4)
        assert res.fraction_closer_than_heldout == pytest.approx(10 / 40)
        assert res.generated_knn_mse.shape == (40, 4)
        assert res.generated_nn_index[:10, 0].tolist() == list(range(10))
        d = res.to_dict()
        assert d['generated_nn_mse_min'] == 0.0
        assert d['heldout_nn_mse_median'] == pytest.approx(np.median(res.heldout_nn_mse))
        no_held = memorization(gen, train)
        assert math.isnan(no_held.fraction_closer_than_heldout)
