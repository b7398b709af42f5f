# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.data.augment."""

import numpy as np
import pytest
import torch

from galsynth.data.augment import Augment, dihedral, flip, rot90, rotate


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 16, 16)).astype(np.float32)


def gaussian(n=33, x=20.0, y=16.0, sigma=2.0):
    yy, xx = np.mgrid[0:n, 0:n]
    return np.exp(-((xx - x)**2 + (yy - y)**2) / (2 * sigma**2))[None].astype(np.float32)


class TestExact:
    def test_rot90_direction(self):
        a = np.zeros((1, 5, 5), np.float32)
        a[0, 2, 3] = 1                       # one pixel right of the centre (x = +1)
        # Counter-clockwise with origin='lower': x = +1 goes to y = +1 (row 3).
        assert np.argwhere(rot90(a, 1)[0]).tolist() == [[3, 2]]
        assert np.argwhere(rotate(a, -90)[0]).tolist() == [[1, 2]]

    def test_exact_transforms_permute_pixels(self, image):
        for k in range(8):
            out = dihedral(image, k)
            assert out.shape == image.shape
            np.testing.assert_array_equal(np.sort(out.ravel()), np.sort(image.ravel()))
        np.testing.assert_array_equal(rot90(rot90(image, 2), 2), image)
        np.testing.assert_array_equal(flip(flip(image, 'y'), 'y'), image)
        np.testing.assert_array_equal(rotate(image, 180), rot90(image, 2))
        assert len({dihedral(image, k).tobytes() for k in range(8)}) == 8

    def test_torch_matches_numpy(self, image):
        t = torch.from_numpy(image)
        for k in range(8):
            np.testing.assert_array_equal(dihedral(t, k).numpy(), dihedral(image, k))
        np.testing.assert_array_equal(flip(t, 'x').numpy(), flip(image, 'x'))

    def test_bad_arguments(self, image):
        with pytest.raises(ValueError, match="'x' or 'y'"):
            flip(image, 'z')
        with pytest.raises(ValueError, match='0-7'):
            dihedral(image, 8)
        with pytest.raises(ValueError, match='fill must be one of'):
            rotate(image, 45, fill='wrap')
        with pytest.raises(ValueError, match='shape'):
            rot90(np.zeros(3))


class TestRotate45:
    def test_shapes_and_dtype(self, image):
        for x in (image, torch.from_numpy(image), image[None], image[0]):
            out = rotate(x, 45)
            assert type(out) is type(x) and out.shape == x.shape and out.dtype == x.dtype

    def test_moves_the_light(self):
        img = gaussian(x=24.0, y=16.0)            # 8 pixels right of the centre
        out = rotate(img, 45)[0]
        yy, xx = np.mgrid[0:33, 0:33]
        cx, cy = (out * xx).sum() / out.sum(), (out * yy).sum() / out.sum()
        c = 8 / np.sqrt(2)
        assert cx == pytest.approx(16 + c, abs=0.05) and cy == pytest.approx(16 + c, abs=0.05)
        assert out.sum() == pytest.approx(img.sum(), rel=1e-3)
        # Two 45° steps agree with one exact 90° rotation (bilinear smoothing aside).
        wide = gaussian(x=22.0, sigma=3.0)
        np.testing.assert_allclose(rotate(rotate(wide, 45), 45), rot90(wide, 1), atol=0.05)

    def test_constant_fill(self):
        ones = np.ones((2, 16, 16), np.float32)
        out = rotate(ones, 45, fill='constant')
        assert (out[:, 0, 0] == 0).all() and (out[:, -1, -1] == 0).all()
        assert out[0, 8, 8] == pytest.approx(1)
        assert rotate(ones, 45, fill='constant', value=-3.0)[0, 0, 0] == pytest.approx(-3.0)

    def test_reflect_fill(self):
        # A gradient along x: reflection about the edges keeps the corners inside the
        # image's value range and not empty.
        img = np.tile(np.arange(16, dtype=np.float32), (16, 1))[None]
        out = rotate(img, 45, fill='reflect')
        assert out.min() >= 0 and out.max() <= 15
        assert out[0, 0, 0] > 0 and out[0, -1, -1] > 0
        nearest = rotate(np.ones((1, 16, 16), np.float32), 45, fill='nearest')
        np.testing.assert_allclose(nearest, 1, rtol=1e-6)


class TestAugment:
    def test_deterministic_per_index_and_epoch(self, image):
        aug = Augment(seed=5)
        a = aug(image, index=3, epoch=1)
        np.testing.assert_array_equal(a, Augment(seed=5)(image, index=3, epoch=1))
        draws = {aug.params(i, e) for i in range(40) for e in range(2)}
        assert {angle for angle, _ in draws} == {45.0 * k for k in range(8)}
        assert {f for _, f in draws} == {True, False}
        assert [aug.params(i, 0) for i in range(20)] != [aug.params(i, 1) for i in range(20)]
        assert [aug.params(i) for i in range(20)] != [Augment(seed=6).params(i)
                                                      for i in range(20)]

    def test_exact_mode(self, image):
        aug = Augment(rotate45=False, seed=1)
        assert aug.exact
        for i in range(16):
            out = aug(image, index=i)
            assert any(np.array_equal(out, dihedral(image, k)) for k in range(8))

    def test_apply_and_counter(self, image):
        aug = Augment(rotate45=False, flip=False, seed=2)
        first, second = aug(image), aug(image)
        np.testing.assert_array_equal(first, aug.apply(image, *aug.params(0)))
        np.testing.assert_array_equal(second, aug.apply(image, *aug.params(1)))
        rng = np.random.default_rng(0)
        assert aug(image, rng=rng).shape == image.shape
        assert Augment(rotate45=False, rotate90=False, flip=False).params(3) == (0.0, False)
        assert 'fill' in repr(aug) and aug.to_dict()['seed'] == 2
