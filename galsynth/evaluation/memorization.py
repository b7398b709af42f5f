# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Memorization checks: nearest training images by mean squared error.

A generator that copies its training set produces images whose nearest
training image is much closer than a *new* real image's nearest training
image is. This module finds, for every query image, the ``k`` training
images of smallest mean squared error (MSE), optionally ignoring a border of
pixels (the method compares the images without their edges), with batched
matrix products in torch (``|a|² + |b|² - 2 a·b``, reference images in
chunks, no Python loop over pairs). Candidates (``k`` plus a margin) are
selected in float32 and their distances then recomputed directly as
``sum((a - b)²)`` with float64 accumulation, so near-copies are ranked correctly despite the
cancellation in the expanded form; images on a large common level are
centred first.

`memorization` compares the nearest-neighbour distances of generated images
with those of held-out real images (real images not used for training).
"""

import dataclasses
import logging
import math

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = [
    'normalize_images',
    'nearest_neighbors',
    'MemorizationResult',
    'memorization',
]

log = logging.getLogger(__name__)


def normalize_images(images, *, method='minmax', softening=0.05):
    """
    Put images on a common scale before comparing them.

    Parameters
    ----------
    images : array-like, shape ``(n, n_bands, ny, nx)``
        Images (e.g. nanomaggies). Non-finite pixels become 0.
    method : {'minmax', 'asinh', None}, optional
        ``'minmax'`` (default, the method's): every band of every image
        scaled to [0, 1] by its own minimum and maximum; ``'asinh'``:
        ``arcsinh(x / softening)``, the same fixed transform for all images;
        `None`: unchanged.
    softening : float, optional
        Softening of ``'asinh'`` (same unit as the images).

    Returns
    -------
    `numpy.ndarray`, float32
    """
    x = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if method is None:
        return x
    if method == 'asinh':
        return np.arcsinh(x / np.float32(softening)).astype(np.float32)
    if method == 'minmax':
        if x.ndim < 3:
            msg = f'minmax normalization needs (n, [bands,] ny, nx) images; got shape {x.shape}'
            raise ValueError(msg)
        lo = x.min(axis=(-2, -1), keepdims=True)
        span = x.max(axis=(-2, -1), keepdims=True) - lo
        return ((x - lo) / np.where(span > 0, span, 1.0)).astype(np.float32)
    msg = f"unknown normalization {method!r}; use 'minmax', 'asinh' or None"
    raise ValueError(msg)


def _crop(batch, border):
    if border:
        if batch.ndim < 3 or min(batch.shape[-2:]) <= 2 * border:
            msg = f'border={border} leaves nothing of images of shape {batch.shape[1:]}'
            raise ValueError(msg)
        batch = batch[..., border:-border, border:-border]
    return batch


def _as_flat(batch, border):
    """float32 torch view/copy of shape (n, d) of a numpy or torch batch."""
    batch = _crop(batch, border)
    if isinstance(batch, torch.Tensor):
        t = batch.detach().to('cpu', torch.float32)
    else:
        t = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    return t.reshape(t.shape[0], -1).contiguous()


def _sq_norms(x):
    """Squared row norms of a float32 (n, d) tensor, as float64 (fast float32 sums)."""
    return torch.einsum('ij,ij->i', x, x).double()


def _exact_sq_dist(rows, queries, block=512):
    """
    ``sum((rows - queries)²)`` over the last axis, accurate to float64 level.

    The differences are taken in float32 (exact for nearly equal values), the
    squares summed in float32 over blocks of ``block`` pixels and the block sums
    added in float64: a fraction of the cost of a float64 computation with
    a relative error of ~1e-7 at most, and exactly 0 for identical images.
    """
    diff = rows - queries
    d = diff.shape[-1]
    pad = (-d) % block
    if pad:
        diff = torch.nn.functional.pad(diff, (0, pad))
    diff = diff.reshape(*diff.shape[:-1], -1, block)
    return torch.einsum('...bj,...bj->...b', diff, diff).double().sum(dim=-1)


def nearest_neighbors(queries, references, *, k=4, border=0, chunk_size=4096,
                      candidates=16, progress=False, num_threads=None):
    """
    The ``k`` reference images of smallest MSE to each query image.

    Parameters
    ----------
    queries : array-like or `torch.Tensor`, shape ``(n_q, ...)``
        Query images, e.g. ``(n_q, n_bands, ny, nx)``.
    references : array-like or `torch.Tensor`, shape ``(n_ref, ...)``
        Reference (training) images of the same shape. A float32
        C-contiguous numpy array is read in chunks without copying.
    k : int, optional
        Neighbours per query.
    border : int, optional
        Pixels ignored at each edge (on the last two axes).
    chunk_size : int, optional
        Reference images per matrix product (memory ~ ``chunk_size * d * 4``
        bytes plus ``n_q * chunk_size * 8``).
    candidates : int, optional
        Extra candidates kept from the float32 pass for the exact float64
        re-ranking.
    progress : bool, optional
        Show a progress bar over the reference chunks.
    num_threads : int, optional
        torch threads for the matrix products (default: unchanged).

    Returns
    -------
    mse : `numpy.ndarray`, shape ``(n_q, k)``, float64
        Mean squared errors (over the compared pixels), ascending.
    index : `numpy.ndarray`, shape ``(n_q, k)``, int64
        Indices into ``references``.

    Raises
    ------
    ValueError
        For images of different shapes, empty sets or a bad ``k``/``border``.
    """
    if not isinstance(queries, (np.ndarray, torch.Tensor)):
        queries = np.asarray(queries, dtype=np.float32)
    if not isinstance(references, (np.ndarray, torch.Tensor)):
        references = np.asarray(references, dtype=np.float32)
    if len(queries) == 0 or len(references) == 0:
        msg = f'need query and reference images; got {len(queries)} and {len(references)}'
        raise ValueError(msg)
    if tuple(queries.shape[1:]) != tuple(references.shape[1:]):
        msg = (f'query images have shape {tuple(queries.shape[1:])}, reference images '
               f'{tuple(references.shape[1:])}')
        raise ValueError(msg)
    n_ref = len(references)
    if not 1 <= k <= n_ref:
        msg = f'k must be in [1, {n_ref}] (the number of reference images); got {k}'
        raise ValueError(msg)
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        q_raw = _as_flat(queries, border)
        d = q_raw.shape[1]
        # Distances do not change under a common shift. When the images sit on a
        # common level large against their differences (e.g. a sky offset), the
        # float32 products of the expanded form would cancel: centre everything on
        # the mean query image then (costs one subtraction per reference chunk).
        mean = q_raw.mean(dim=0, dtype=torch.float64).float()
        spread = float(_sq_norms(q_raw - mean).mean())
        if float(_sq_norms(mean[None])[0]) > 10.0 * spread:
            shift = mean
            q = q_raw - shift
        else:
            shift = None
            q = q_raw
        # Norms in float32 are enough to pick candidates; the exact float64
        # distances of the candidates are recomputed below.
        q_norm = _sq_norms(q)
        keep = min(k + candidates, n_ref)
        best_d = torch.full((len(q), 0), math.inf, dtype=torch.float64)
        best_i = torch.zeros((len(q), 0), dtype=torch.int64)
        starts = range(0, n_ref, chunk_size)
        with torch.inference_mode():
            for start in tqdm(starts, disable=not progress, desc='nearest neighbours',
                              unit='chunk'):
                r = _as_flat(references[start:start + chunk_size], border)
                if shift is not None:
                    r = r - shift
                r_norm = _sq_norms(r)
                cross = q @ r.T  # [n_q, chunk] float32
                dist = q_norm[:, None] + r_norm[None, :] - 2.0 * cross.double()
                idx = torch.arange(start, start + len(r), dtype=torch.int64).expand(len(q), -1)
                all_d = torch.cat([best_d, dist], dim=1)
                all_i = torch.cat([best_i, idx], dim=1)
                top = torch.topk(all_d, min(keep, all_d.shape[1]), dim=1, largest=False)
                best_d = top.values
                best_i = torch.gather(all_i, 1, top.indices)
            # Direct (float64-accumulated) re-ranking of the candidates, a few queries
            # at a time.
            exact = torch.empty_like(best_d)
            per = max(1, 2 ** 27 // max(keep * d * 4, 1))
            for s in range(0, len(q), per):
                cand_idx = best_i[s:s + per]
                flat_idx = cand_idx.reshape(-1)
                if not isinstance(references, torch.Tensor):
                    flat_idx = flat_idx.numpy()
                rows = _as_flat(references[flat_idx], border).reshape(len(cand_idx), keep, d)
                exact[s:s + per] = _exact_sq_dist(rows, q_raw[s:s + per, None, :])
            top = torch.topk(exact, k, dim=1, largest=False)
            mse = (top.values / d).numpy()
            index = torch.gather(best_i, 1, top.indices).numpy()
    finally:
        torch.set_num_threads(old_threads)
    return np.ascontiguousarray(mse), np.ascontiguousarray(index)


@dataclasses.dataclass(frozen=True)
class MemorizationResult:
    """Outcome of `memorization`."""

    #: MSE of each generated image to its nearest training image.
    generated_nn_mse: np.ndarray = dataclasses.field(repr=False)
    #: Indices of the ``k`` nearest training images of each generated image.
    generated_nn_index: np.ndarray = dataclasses.field(repr=False)
    #: MSE of the ``k`` nearest training images of each generated image.
    generated_knn_mse: np.ndarray = dataclasses.field(repr=False)
    #: MSE of each held-out real image to its nearest training image (or None).
    heldout_nn_mse: np.ndarray | None = dataclasses.field(repr=False)
    #: Fraction of generated images closer to a training image than any
    #: held-out image is (NaN without held-out images).
    fraction_closer_than_heldout: float
    #: Median nearest-neighbour MSE of the generated images.
    nn_mse_median: float
    #: Median nearest-neighbour MSE of the held-out images (NaN without).
    heldout_nn_mse_median: float

    def to_dict(self):
        """JSON-ready summary."""
        q = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95]

        def quantiles(x):
            if x is None or len(x) == 0:
                return None
            return {f'q{int(p * 100):02d}': float(v) for p, v in zip(q, np.quantile(x, q),
                                                                       strict=True)}

        return {
            'nn_mse_median': self.nn_mse_median,
            'heldout_nn_mse_median': self.heldout_nn_mse_median,
            'ratio_of_medians': (self.nn_mse_median / self.heldout_nn_mse_median
                                 if self.heldout_nn_mse_median > 0 else math.nan),
            'fraction_closer_than_heldout': self.fraction_closer_than_heldout,
            'generated_nn_mse_quantiles': quantiles(self.generated_nn_mse),
            'heldout_nn_mse_quantiles': quantiles(self.heldout_nn_mse),
            'generated_nn_mse_min': float(np.min(self.generated_nn_mse)),
            'heldout_nn_mse_min': (float(np.min(self.heldout_nn_mse))
                                   if self.heldout_nn_mse is not None
                                   and len(self.heldout_nn_mse) else math.nan),
        }


def memorization(generated, train, heldout=None, *, k=4, border=0, chunk_size=4096,
                 progress=False):
    """
    Nearest training images of generated (and held-out real) images.

    Parameters
    ----------
    generated : array-like, shape ``(n_gen, ...)``
        Generated images, already normalized (see `normalize_images`).
    train : array-like, shape ``(n_train, ...)``
        Training images, normalized the same way.
    heldout : array-like, shape ``(n_held, ...)``, optional
        Real images *not* used for training: their nearest-training-image
        distances are the baseline a non-copying generator should match.
    k : int, optional
        Neighbours kept per generated image (for the figure).
    border : int, optional
        Pixels ignored at each edge.
    chunk_size : int, optional
        See `nearest_neighbors`.
    progress : bool, optional
        Progress bars.

    Returns
    -------
    `MemorizationResult`
    """
    k = min(k, len(train))
    gen_mse, gen_idx = nearest_neighbors(generated, train, k=k, border=border,
                                         chunk_size=chunk_size, progress=progress)
    held = None
    fraction = math.nan
    held_median = math.nan
    if heldout is not None and len(heldout):
        held, _ = nearest_neighbors(heldout, train, k=1, border=border, chunk_size=chunk_size,
                                    progress=progress)
        held = held[:, 0]
        fraction = float(np.mean(gen_mse[:, 0] < held.min()))
        held_median = float(np.median(held))
    return MemorizationResult(
        generated_nn_mse=gen_mse[:, 0], generated_nn_index=gen_idx, generated_knn_mse=gen_mse,
        heldout_nn_mse=held, fraction_closer_than_heldout=fraction,
        nn_mse_median=float(np.median(gen_mse[:, 0])), heldout_nn_mse_median=held_median)
