# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Torch datasets of galaxy images for training.

`GalaxyFITSDataset` serves a folder of galaxy products (FITS, nanomaggies:
simulated stamps, SDSS stamps from `galsynth.data.frames`), normalized with
a `~galsynth.data.normalization.Normalization`; `ImageFolderDataset` serves
a folder of JPG/PNG colour images (e.g. Galaxy Zoo cut-outs) scaled to
[-1, 1]. Both return float32 tensors of shape ``(C, H, W)``, both can apply
an `~galsynth.data.augment.Augment`, and both keep the pre-processed images
(cropped / resized, before normalization and augmentation) in a cache file,
``<root>/.galsynth_cache_<key>.pt``, so that later runs and epochs do not
re-read the images. The key is a hash of the file list (relative paths,
sizes, modification times) and of the settings, so any change rebuilds the
cache; the file is loaded memory-mapped.

Arrays follow the FITS convention: row 0 is the bottom of the image (JPG/PNG
rows are reversed on reading, so that all images have North up when shown
with ``origin='lower'``).

Augmentation is deterministic: item ``index`` in epoch ``epoch`` (see
``set_epoch``) gets the transform `Augment.params(index, epoch)
<galsynth.data.augment.Augment.params>`, which depends only on the
augmentation's seed, the epoch and the index.
"""

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..bands import check_bands
from ..exceptions import DataQualityWarning
from ..utils.io import atomic_write
from .augment import Augment
from .normalization import Normalization

__all__ = ['GalaxyFITSDataset', 'ImageFolderDataset', 'find_images', 'center_crop',
           'resize_flux']

log = logging.getLogger(__name__)

_CACHE_VERSION = 1
_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def find_images(root, suffixes, *, max_images=None):
    """
    Image files under a folder, recursively, sorted; hidden ones left out.

    Parameters
    ----------
    root : str or `~pathlib.Path`
    suffixes : sequence of str
        File name endings (case-insensitive), e.g. ``('.fits',)``.
    max_images : int, optional
        Keep the first ``max_images`` (in sorted order).

    Returns
    -------
    list of `~pathlib.Path`

    Raises
    ------
    FileNotFoundError
        When ``root`` is not a folder.
    ValueError
        When it holds no such file.
    """
    root = Path(root)
    if not root.is_dir():
        msg = f'{root}: no such folder'
        raise FileNotFoundError(msg)
    suffixes = tuple(s.lower() for s in suffixes)
    files = sorted(p for p in root.rglob('*')
                   if p.is_file() and p.name.lower().endswith(suffixes)
                   and not any(part.startswith('.') for part in p.relative_to(root).parts))
    if not files:
        msg = f'{root}: no image files ({", ".join(suffixes)}) found'
        raise ValueError(msg)
    if max_images is not None:
        if max_images < 1:
            msg = f'max_images must be >= 1; got {max_images}'
            raise ValueError(msg)
        files = files[:max_images]
    return files


def center_crop(x, size):
    """
    The central ``size`` x ``size`` pixels of an image.

    For an even excess the crop is exactly centred; for an odd one the extra
    pixel is dropped at the top/right.

    Parameters
    ----------
    x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
    size : int

    Returns
    -------
    Same type as ``x`` (a view)

    Raises
    ------
    ValueError
        When the image is smaller than ``size``.
    """
    h, w = x.shape[-2], x.shape[-1]
    if h < size or w < size:
        msg = f'image of {w}x{h} pixels is smaller than the crop size {size}'
        raise ValueError(msg)
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0:y0 + size, x0:x0 + size]


def resize_flux(x, size):
    """
    Resample a square image to ``size`` x ``size`` conserving total flux.

    Downsampling averages over the input pixels each output pixel covers
    (``torch.nn.functional.interpolate(mode='area')``), upsampling is
    bilinear; the result is multiplied by ``(H / size)**2`` so that the sum
    over the image (the flux in nanomaggies) is unchanged: the pixels get
    larger, the surface brightness per arcsec**2 stays.

    Parameters
    ----------
    x : `torch.Tensor`, shape ``(C, H, W)``
    size : int

    Returns
    -------
    `torch.Tensor`, shape ``(C, size, size)``
    """
    h = x.shape[-1]
    if h == size:
        return x
    mode = {'mode': 'area'} if size < h else {'mode': 'bilinear', 'align_corners': False}
    out = torch.nn.functional.interpolate(x[None].to(torch.float64), size=(size, size), **mode)
    return (out[0] * (h / size) ** 2).to(x.dtype)


class _CachedImages(Dataset):
    """Common machinery: file list, cache file, augmentation, epochs."""

    _suffixes = ()

    def __init__(self, root, *, resolution, augment, cache, max_images, progress):
        self.root = Path(root)
        self.resolution = int(resolution)
        if self.resolution < 4:
            msg = f'resolution must be >= 4; got {resolution}'
            raise ValueError(msg)
        if augment is not None and not callable(augment):
            msg = f'augment must be an Augment (or callable) or None; got {augment!r}'
            raise TypeError(msg)
        self.augment = augment
        self.epoch = 0
        self.progress = progress
        files = find_images(self.root, self._suffixes, max_images=max_images)
        key = self._key(files)
        cache_path = self._cache_path(cache, key)
        data = self._load_cache(cache_path, key) if cache_path is not None else None
        if data is None:
            data = self._build(files)
            data['key'] = key
            self._prepare(data)
            if cache_path is not None:
                self._save_cache(cache_path, data)
        self._data = data
        self._images = data['images']
        self.files = [self.root / f for f in data['files']]
        self.skipped = list(data['skipped'])
        self.cache_path = cache_path

    # ------------------------------------------------------------------ cache

    def _settings(self):
        return {'resolution': self.resolution}

    def _key(self, files):
        entries = []
        for f in files:
            st = f.stat()
            entries.append([str(f.relative_to(self.root)), st.st_size, st.st_mtime_ns])
        blob = json.dumps({'version': _CACHE_VERSION, 'class': type(self).__name__,
                           'settings': self._settings(), 'files': entries}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _cache_path(self, cache, key):
        if cache is False or cache is None:
            return None
        name = f'.galsynth_cache_{key[:16]}.pt'
        if cache is True:
            return self.root / name
        path = Path(cache)
        return path / name if path.is_dir() else path

    def _load_cache(self, path, key):
        if not path.is_file():
            return None
        try:
            data = torch.load(path, mmap=True, weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError) as exc:
            log.info('%s: unreadable cache (%s); rebuilding', path, exc)
            return None
        if not isinstance(data, dict) or data.get('key') != key:
            log.info('%s: cache of other files or settings; rebuilding', path)
            return None
        log.info('%s: loaded %d cached images', path, len(data['images']))
        return data

    def _save_cache(self, path, data):
        try:
            with atomic_write(path, overwrite=True, mode='path') as tmp:
                torch.save(data, tmp)
        except OSError as exc:
            log.info('%s: cannot write the cache (%s); keeping the images in memory', path, exc)
            return
        log.info('%s: cached %d images', path, len(data['images']))

    def _prepare(self, data):
        """Hook: add derived quantities to a freshly built cache before it is saved."""

    # ------------------------------------------------------------------ torch Dataset

    def __len__(self):
        return int(self._images.shape[0])

    def set_epoch(self, epoch):
        """
        Set the epoch that (with the index) chooses each item's augmentation.

        Parameters
        ----------
        epoch : int
        """
        self.epoch = int(epoch)

    def raw(self, index):
        """
        Item ``index`` as cached: cropped / resized, not normalized or augmented.

        Parameters
        ----------
        index : int

        Returns
        -------
        `torch.Tensor`, shape ``(C, H, W)``
        """
        return self._images[index]

    def _augment(self, x, index):
        if self.augment is None:
            return x
        if isinstance(self.augment, Augment):
            return self.augment(x, index=index, epoch=self.epoch)
        return self.augment(x)

    @property
    def num_channels(self):
        """Number of channels of the items."""
        return int(self._images.shape[1])


class GalaxyFITSDataset(_CachedImages):
    """
    A torch dataset over a folder of galaxy products (FITS).

    Every ``*.fits`` file under ``root`` (recursively; hidden files and
    folders left out) is read with `galsynth.products.read_galaxy`, its
    ``bands`` taken in nanomaggies, brought to ``resolution`` pixels (centre
    crop, or flux-conserving resampling), cached, then per item augmented
    and normalized.

    Parameters
    ----------
    root : str or `~pathlib.Path`
        Folder of galaxy products.
    bands : str, optional
        Bands, in channel order (every file must have them).
    resolution : int, optional
        Side of the items in pixels.
    normalization : str, `~galsynth.data.normalization.Normalization` or None, optional
        A kind (``'asinh'``, ``'minmax'``): fitted on the data set (after
        cropping; kept in the cache); a `~galsynth.data.normalization.Normalization`: used as it
        is (e.g. the pre-training's when fine-tuning; its bands must match);
        None: items in nanomaggies.
    augment : `~galsynth.data.augment.Augment` or callable, optional
        Applied to each item (in nanomaggies, before normalization, so a
        constant fill of 0 is empty sky).
    cache : bool or str or `~pathlib.Path`, optional
        True: ``<root>/.galsynth_cache_<key>.pt``; a folder: that file name
        in it; a file path: that file; False: no cache file.
    max_images : int, optional
        Use only the first files (sorted by path).
    fit : {'crop', 'resize'}, optional
        ``'crop'``: centre crop to ``resolution`` (pixels unchanged; images
        smaller than ``resolution`` are skipped with a warning);
        ``'resize'``: centre crop to a square, then `resize_flux`.
    progress : bool, optional
        Progress bar while reading the files.

    Attributes
    ----------
    bands : str
    resolution : int
    normalization : `~galsynth.data.normalization.Normalization` or None
    num_channels : int
    files : list of `~pathlib.Path`
        The files of the items, in item order.
    skipped : list of str
        ``'<file>: <reason>'`` for the files left out.

    Raises
    ------
    FileNotFoundError
        When ``root`` does not exist.
    ValueError
        When it has no FITS file or no usable galaxy product, or a given
        normalization's bands differ from ``bands``.

    Warns
    -----
    `~galsynth.exceptions.DataQualityWarning`
        For each file that is not a valid product (naming it; it is left out)
        and each product with NaN/inf pixels (set to 0).
    """

    _suffixes = ('.fits', '.fits.gz', '.fit')

    def __init__(self, root, *, bands='gri', resolution=64, normalization='asinh', augment=None,
                 cache=True, max_images=None, fit='crop', progress=False):
        self.bands = ''.join(check_bands(bands))
        if fit not in ('crop', 'resize'):
            msg = f"fit must be 'crop' or 'resize'; got {fit!r}"
            raise ValueError(msg)
        self.fit = fit
        self._kind = normalization if isinstance(normalization, str) else None
        super().__init__(root, resolution=resolution, augment=augment, cache=cache,
                         max_images=max_images, progress=progress)
        if isinstance(normalization, Normalization):
            if normalization.bands != self.bands:
                msg = (f'normalization bands {normalization.bands!r} differ from the data '
                       f'set bands {self.bands!r}')
                raise ValueError(msg)
            self.normalization = normalization
        elif normalization is None:
            self.normalization = None
        else:
            fitted = self._data.get('normalizations', {}).get(normalization)
            self.normalization = (Normalization.from_dict(fitted) if fitted is not None else
                                  Normalization.fit(self._images, kind=normalization,
                                                    bands=self.bands))

    def _settings(self):
        return {'resolution': self.resolution, 'bands': self.bands, 'fit': self.fit}

    def _prepare(self, data):
        # The normalization fitted on these images is kept with them in the cache.
        if self._kind is not None:
            norm = Normalization.fit(data['images'], kind=self._kind, bands=self.bands)
            data['normalizations'] = {self._kind: norm.to_dict()}

    def _build(self, files):
        from tqdm.auto import tqdm

        from ..products import galaxy_cube, read_galaxy

        images, names, skipped = [], [], []
        for path in tqdm(files, desc='reading FITS', unit='file', disable=not self.progress):
            try:
                hdul = read_galaxy(path, bands=self.bands)
                cube = galaxy_cube(hdul, self.bands)
            except ValueError as exc:
                reason = str(exc)
                reason = reason if reason.startswith(str(path)) else f'{path}: {reason}'
                warnings.warn(f'{reason}; file left out', DataQualityWarning)
                skipped.append(reason)
                continue
            bad = ~np.isfinite(cube)
            if bad.any():
                warnings.warn(f'{path}: {int(bad.sum())} NaN/inf pixel(s) set to 0',
                              DataQualityWarning)
                cube = np.where(bad, 0.0, cube).astype(np.float32)
            x = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))
            try:
                x = self._to_resolution(x)
            except ValueError as exc:
                reason = f'{path}: {exc}'
                warnings.warn(f"{reason}; file left out (use fit='resize')", DataQualityWarning)
                skipped.append(reason)
                continue
            images.append(x.contiguous())
            names.append(str(path.relative_to(self.root)))
        if not images:
            msg = f'{self.root}: no usable galaxy product with bands {self.bands!r}'
            raise ValueError(msg)
        return {'images': torch.stack(images), 'files': names, 'skipped': skipped}

    def _to_resolution(self, x):
        if self.fit == 'crop':
            return center_crop(x, self.resolution)
        side = min(x.shape[-2:])
        return resize_flux(center_crop(x, side), self.resolution)

    def __getitem__(self, index):
        x = self._augment(self._images[index], index)
        if self.normalization is not None:
            x = self.normalization.forward(x)
        return x.to(torch.float32).contiguous()

    def __repr__(self):
        return (f'GalaxyFITSDataset({str(self.root)!r}, bands={self.bands!r}, '
                f'resolution={self.resolution}, n={len(self)}, '
                f'normalization={self.normalization!r})')


class ImageFolderDataset(_CachedImages):
    """
    A torch dataset over a folder of JPG/PNG colour images.

    Every ``*.jpg``, ``*.jpeg`` and ``*.png`` under ``root`` (recursively,
    hidden ones left out) is read as RGB, optionally centre-cropped,
    resized to ``resolution`` (Lanczos), its rows reversed (row 0 = bottom,
    as in FITS) and cached as 8-bit; items are augmented, then scaled to
    [-1, 1] (`~galsynth.data.normalization.Normalization` of kind
    ``'rgb8'``).

    Parameters
    ----------
    root : str or `~pathlib.Path`
    resolution : int
        Side of the items in pixels.
    augment : `~galsynth.data.augment.Augment` or callable, optional
        Applied to the 0-255 image (a constant fill of 0 is black).
    cache : bool or str or `~pathlib.Path`, optional
        As for `GalaxyFITSDataset`; a read-only ``root`` keeps the images in
        memory only.
    max_images : int, optional
        Use only the first files (sorted by path).
    crop : int or float, optional
        Centre crop before resizing: a side in pixels, or a fraction (<= 1)
        of the shorter side. Default: the largest centred square.
    progress : bool, optional
        Progress bar while reading.

    Attributes
    ----------
    bands : str
        ``'RGB'`` (channel labels; not SDSS bands).
    resolution : int
    normalization : `~galsynth.data.normalization.Normalization`
        Of kind ``'rgb8'``.
    num_channels : int
        3.
    files : list of `~pathlib.Path`
    skipped : list of str

    Warns
    -----
    `~galsynth.exceptions.DataQualityWarning`
        For each unreadable image (naming it; it is left out).
    """

    _suffixes = _IMAGE_SUFFIXES

    def __init__(self, root, *, resolution, augment=None, cache=True, max_images=None,
                 crop=None, progress=False):
        if crop is not None and not crop > 0:
            msg = f'crop must be > 0; got {crop}'
            raise ValueError(msg)
        self.crop = crop
        self.bands = 'RGB'
        super().__init__(root, resolution=resolution, augment=augment, cache=cache,
                         max_images=max_images, progress=progress)
        self.normalization = Normalization('rgb8', 'RGB')

    def _settings(self):
        return {'resolution': self.resolution, 'crop': self.crop}

    def _build(self, files):
        from PIL import Image, UnidentifiedImageError
        from tqdm.auto import tqdm

        images, names, skipped = [], [], []
        for path in tqdm(files, desc='reading images', unit='file', disable=not self.progress):
            try:
                with Image.open(path) as im:
                    im = im.convert('RGB')
                    w, h = im.size
                    side = min(w, h)
                    if self.crop is not None:
                        side = int(round(self.crop * side)) if self.crop <= 1 else int(self.crop)
                        side = min(side, w, h)
                    left, top = (w - side) // 2, (h - side) // 2
                    im = im.crop((left, top, left + side, top + side))
                    if side != self.resolution:
                        im = im.resize((self.resolution, self.resolution),
                                       Image.Resampling.LANCZOS)
                    arr = np.asarray(im, dtype=np.uint8)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                reason = f'{path}: not a readable image ({exc})'
                warnings.warn(f'{reason}; file left out', DataQualityWarning)
                skipped.append(reason)
                continue
            arr = np.ascontiguousarray(arr[::-1].transpose(2, 0, 1))
            images.append(torch.from_numpy(arr))
            names.append(str(path.relative_to(self.root)))
        if not images:
            msg = f'{self.root}: no readable image'
            raise ValueError(msg)
        return {'images': torch.stack(images), 'files': names, 'skipped': skipped}

    def __getitem__(self, index):
        x = self._images[index].to(torch.float32)
        x = self._augment(x, index)
        return self.normalization.forward(x).contiguous()

    def __repr__(self):
        return (f'ImageFolderDataset({str(self.root)!r}, resolution={self.resolution}, '
                f'n={len(self)})')
