# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.data.datasets."""

import numpy as np
import pytest
import torch
from PIL import Image

from galsynth.data.augment import Augment, rotate
from galsynth.data.datasets import (
    GalaxyFITSDataset,
    ImageFolderDataset,
    center_crop,
    resize_flux,
)
from galsynth.data.frames import extract_frames_dir
from galsynth.data.normalization import Normalization
from galsynth.exceptions import DataQualityWarning
from galsynth.products import make_galaxy, write_galaxy

from .conftest import FIELD, FRAMES, shared_data_dir

DATE = '2026-01-01T00:00:00'


def write_products(folder, n=6, size=40, bands='gri', seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2)
    paths = []
    for k in range(n):
        cube = (rng.uniform(1, 20, (len(bands), 1, 1)) * np.exp(-r / rng.uniform(1, 4))
                + rng.normal(0, 0.03, (len(bands), size, size)))
        hdul = make_galaxy(cube, bands=bands, generator='test', date=DATE)
        paths.append(write_galaxy(hdul, folder / f'sub{k % 2}' / f'gal_{k:02d}.fits'))
    return paths


@pytest.fixture
def products(tmp_path):
    folder = tmp_path / 'products'
    write_products(folder)
    return folder


class TestGalaxyFITSDataset:
    def test_items(self, products):
        ds = GalaxyFITSDataset(products, resolution=32)
        assert len(ds) == 6 and ds.num_channels == 3 and ds.bands == 'gri'
        assert ds.resolution == 32
        x = ds[0]
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
        assert x.shape == (3, 32, 32)
        assert ds.normalization.kind == 'asinh' and ds.normalization.bands == 'gri'
        items = torch.stack([ds[i] for i in range(len(ds))])
        assert items.min() >= -1 - 1e-6 and items.max() <= 1 + 1e-6
        # Items are the centre crop of the files, normalized: invertible to nanomaggies.
        from galsynth.products import galaxy_cube, read_galaxy
        cube = galaxy_cube(read_galaxy(ds.files[0]))
        np.testing.assert_allclose(ds.normalization.inverse(x).numpy(), cube[:, 4:36, 4:36],
                                   rtol=1e-5, atol=1e-6)

    def test_cache(self, products, monkeypatch):
        ds = GalaxyFITSDataset(products, resolution=32, normalization='minmax')
        assert ds.cache_path.parent == products and ds.cache_path.is_file()
        assert ds.cache_path.name.startswith('.galsynth_cache_')

        # A second data set loads the cache without reading any FITS file.
        def no_read(*args, **kwargs):
            raise AssertionError('read_galaxy called although the cache is valid')
        monkeypatch.setattr('galsynth.products.read_galaxy', no_read)
        again = GalaxyFITSDataset(products, resolution=32, normalization='minmax')
        assert again.normalization == ds.normalization
        torch.testing.assert_close(again[3], ds[3])
        monkeypatch.undo()
        # Other settings or files: another key, rebuilt.
        other = GalaxyFITSDataset(products, resolution=24, normalization='minmax')
        assert other.cache_path != ds.cache_path and other[0].shape == (3, 24, 24)
        write_products(products / 'more', n=1, seed=9)
        grown = GalaxyFITSDataset(products, resolution=32)
        assert len(grown) == 7 and grown.cache_path != ds.cache_path

    def test_cache_options(self, products, tmp_path):
        ds = GalaxyFITSDataset(products, resolution=32, cache=False)
        assert ds.cache_path is None
        assert not list(products.glob('.galsynth_cache_*'))
        ds = GalaxyFITSDataset(products, resolution=32, cache=tmp_path)
        assert ds.cache_path.parent == tmp_path
        ds = GalaxyFITSDataset(products, resolution=32, cache=tmp_path / 'my.pt')
        assert (tmp_path / 'my.pt').is_file()

    def test_given_normalization(self, products):
        norm = Normalization('minmax', 'gri', min=[-1, -1, -1], max=[1, 1, 1])
        ds = GalaxyFITSDataset(products, resolution=32, normalization=norm)
        assert ds.normalization is norm
        torch.testing.assert_close(ds[0], norm.forward(ds.raw(0)))
        with pytest.raises(ValueError, match="normalization bands 'gr' differ"):
            GalaxyFITSDataset(products, resolution=32,
                              normalization=Normalization('minmax', 'gr', min=[0, 0],
                                                          max=[1, 1]))
        raw = GalaxyFITSDataset(products, resolution=32, normalization=None)
        torch.testing.assert_close(raw[2], raw.raw(2))

    def test_bands_subset_and_order(self, products):
        ds = GalaxyFITSDataset(products, bands='ir', resolution=32, normalization=None)
        full = GalaxyFITSDataset(products, bands='gri', resolution=32, normalization=None)
        torch.testing.assert_close(ds[1], full[1][[2, 1]])

    def test_resize_conserves_flux(self, products):
        crop = GalaxyFITSDataset(products, resolution=40, normalization=None)
        small = GalaxyFITSDataset(products, resolution=20, normalization=None, fit='resize')
        assert small[0].shape == (3, 20, 20)
        torch.testing.assert_close(small[0].sum(dim=(1, 2)), crop[0].sum(dim=(1, 2)),
                                   rtol=1e-5, atol=1e-4)
        with pytest.warns(DataQualityWarning, match='smaller than the crop size 64'):
            with pytest.raises(ValueError, match='no usable galaxy product'):
                GalaxyFITSDataset(products, resolution=64)

    def test_augmentation_is_deterministic(self, products):
        aug = Augment(seed=3, fill='constant')
        ds = GalaxyFITSDataset(products, resolution=32, normalization=None, augment=aug)
        a0 = [ds[i] for i in range(6)]
        torch.testing.assert_close(ds[4], a0[4])
        angle, flipped = aug.params(4, 0)
        torch.testing.assert_close(ds[4], aug.apply(ds.raw(4), angle, flipped))
        ds.set_epoch(1)
        assert any(not torch.equal(ds[i], a0[i]) for i in range(6))
        ds.set_epoch(0)
        torch.testing.assert_close(ds[4], a0[4])

    def test_dataloader(self, products):
        ds = GalaxyFITSDataset(products, resolution=32, augment=Augment(seed=1))
        batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)))
        assert batch.shape == (4, 3, 32, 32) and batch.dtype == torch.float32

    def test_max_images(self, products):
        ds = GalaxyFITSDataset(products, resolution=32, max_images=2)
        assert len(ds) == 2 and [p.name for p in ds.files] == ['gal_00.fits', 'gal_02.fits']

    def test_bad_files(self, products):
        bad = products / 'sub0' / 'broken.fits'
        bad.write_bytes(b'SIMPLE  =                    T' + b' ' * 50)
        nan_file = products / 'sub1' / 'gal_01.fits'
        from astropy.io import fits
        with fits.open(nan_file, mode='update') as hdul:
            hdul['G'].data[5, 5] = np.nan
        with pytest.warns(DataQualityWarning) as record:
            ds = GalaxyFITSDataset(products, resolution=32, cache=False)
        messages = [str(w.message) for w in record]
        assert any(str(bad) in m and 'left out' in m for m in messages)
        assert any(str(nan_file) in m and 'NaN/inf' in m for m in messages)
        assert len(ds) == 6 and len(ds.skipped) == 1
        assert torch.isfinite(torch.stack([ds[i] for i in range(6)])).all()

    def test_missing_band(self, products):
        with pytest.warns(DataQualityWarning, match="missing band HDU"):
            with pytest.raises(ValueError, match='no usable galaxy product'):
                GalaxyFITSDataset(products, bands='griz', resolution=32)

    def test_empty_and_missing_folder(self, tmp_path):
        with pytest.raises(ValueError, match='no image files'):
            GalaxyFITSDataset(tmp_path, resolution=32)
        with pytest.raises(FileNotFoundError):
            GalaxyFITSDataset(tmp_path / 'nope', resolution=32)

    def test_real_sdss_stamps(self, tmp_path):
        out = tmp_path / 'stamps'
        extract_frames_dir(FRAMES / FIELD, out, size=64, date=DATE)
        ds = GalaxyFITSDataset(out, resolution=64, augment=Augment(seed=0))
        assert len(ds) == 2 and ds[1].shape == (3, 64, 64)
        # asinh softening ~ the sky noise of the stamps (0.01-0.03 nanomaggy).
        assert np.all((ds.normalization.params['softening'] > 0.005)
                      & (ds.normalization.params['softening'] < 0.05))


class TestImageFolderDataset:
    @pytest.fixture
    def jpgs(self, tmp_path):
        rng = np.random.default_rng(1)
        for k in range(3):
            arr = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
            arr[0] = 255                      # top row white
            Image.fromarray(arr).save(tmp_path / f'img{k}.png')
        (tmp_path / 'notes.txt').write_text('not an image')
        return tmp_path

    def test_items(self, jpgs):
        ds = ImageFolderDataset(jpgs, resolution=50)
        assert len(ds) == 3 and ds.num_channels == 3 and ds.bands == 'RGB'
        assert ds.normalization.kind == 'rgb8'
        x = ds[0]
        assert x.shape == (3, 50, 50) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1
        # Rows reversed (FITS convention): the JPG's top row is the last row.
        assert torch.all(x[:, -1, :] == 1)
        back = ds.normalization.inverse(x)
        assert torch.allclose(back, back.round(), atol=1e-4)

    def test_resize_crop_and_augment(self, jpgs):
        ds = ImageFolderDataset(jpgs, resolution=16, crop=0.5,
                                augment=Augment(seed=0, fill='constant'))
        assert ds[2].shape == (3, 16, 16)
        angle, flipped = ds.augment.params(2)
        expected = ds.normalization.forward(ds.augment.apply(ds.raw(2).float(), angle, flipped))
        torch.testing.assert_close(ds[2], expected)

    def test_unreadable_image(self, jpgs):
        (jpgs / 'bad.jpg').write_bytes(b'not a jpeg')
        with pytest.warns(DataQualityWarning, match='bad.jpg: not a readable image'):
            ds = ImageFolderDataset(jpgs, resolution=16, cache=False)
        assert len(ds) == 3

    def test_galaxy_zoo(self, tmp_path):
        shared = shared_data_dir()
        if shared is None:
            pytest.skip('shared data (../shared/data) not found')
        ds = ImageFolderDataset(shared / 'galaxy_zoo_jpg' / 'sloan', resolution=32,
                                max_images=8, cache=tmp_path)
        assert len(ds) == 8 and ds[7].shape == (3, 32, 32)


class TestHelpers:
    def test_center_crop(self):
        x = np.arange(36).reshape(1, 6, 6)
        np.testing.assert_array_equal(center_crop(x, 2), [[[14, 15], [20, 21]]])
        with pytest.raises(ValueError, match='smaller than the crop size'):
            center_crop(x, 8)

    def test_resize_flux(self):
        x = torch.rand(2, 8, 8)
        y = resize_flux(x, 4)
        torch.testing.assert_close(y.sum(dim=(1, 2)), x.sum(dim=(1, 2)))
        torch.testing.assert_close(y[0, 0, 0], x[0, :2, :2].sum())
        assert resize_flux(x, 16).shape == (2, 16, 16)

    def test_rotation_of_normalized_items(self):
        # Augmenting in nanomaggies then normalizing: a constant fill is empty sky.
        x = torch.ones(1, 8, 8)
        norm = Normalization('minmax', 'r', min=[-1.0], max=[1.0])
        y = norm.forward(rotate(x, 45, fill='constant'))
        assert y[0, 0, 0] == pytest.approx(0.0)
