# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Invertible intensity normalizations between nanomaggies and network space.

A StyleGAN is trained on images scaled to about [-1, 1]; its outputs must go
back to nanomaggies. `Normalization` holds the per-band parameters, maps
both ways on numpy arrays and torch tensors of shape ``(..., C, H, W)``, and
travels with the model: `Normalization.to_dict` is what
`galsynth.products.make_galaxy` writes into every generated product
(``NORMKIND`` and ``N<PAR><band index>`` cards) and
`Normalization.from_header` reads it back.

Kinds (``c`` is the band index; all parameters are per band):

``'minmax'`` (the method's per-channel min-max)
    ``y = 2 (x - min_c) / (max_c - min_c) - 1``;
    ``x = (y + 1) (max_c - min_c) / 2 + min_c``.
    `Normalization.fit` takes ``min_c``/``max_c`` over the whole data set,
    so the training data span exactly [-1, 1].

``'asinh'`` (an arcsinh stretch, for the dynamic range of galaxies)
    ``a = asinh(x / softening_c)``, ``y = (a - offset_c) / scale_c``;
    ``x = softening_c sinh(scale_c y + offset_c)``.
    Linear for ``|x| << softening`` (the noise), logarithmic for bright
    cores. `Normalization.fit` sets ``softening_c`` to the background noise
    of band *c* (1.4826 x the median absolute deviation of the pixels near
    the image edges: the sky around centred galaxies) and ``offset_c``,
    ``scale_c`` so that ``a`` over the whole data set maps onto exactly
    [-1, 1].

``'rgb8'`` (8-bit colour images, e.g. JPG)
    ``y = x / 127.5 - 1``; ``x = 127.5 (y + 1)``; no parameters.

The arithmetic is done in float64 and the result cast back to the input's
floating type, so ``inverse(forward(x))`` equals ``x`` to float32 precision.
"""

import numpy as np

from ..bands import check_bands

__all__ = ['Normalization', 'NORMALIZATION_PARAMETERS']

#: Parameter names of each kind (their first three letters name the header cards).
NORMALIZATION_PARAMETERS = {
    'minmax': ('min', 'max'),
    'asinh': ('softening', 'offset', 'scale'),
    'rgb8': (),
}


def _is_torch(x):
    return type(x).__module__.split('.')[0] == 'torch'


class Normalization:
    """
    An invertible per-band intensity normalization.

    Parameters
    ----------
    kind : {'minmax', 'asinh', 'rgb8'}
        See the module docstring for the formulas.
    bands : str or sequence of str
        The bands (channels), e.g. ``'gri'``; for ``'rgb8'`` any channel
        labels (default ``'RGB'``).
    **params : sequence of float
        One value per band for each parameter of the kind: ``min``, ``max``
        (``'minmax'``); ``softening``, ``offset``, ``scale`` (``'asinh'``).

    Raises
    ------
    ValueError
        For an unknown kind, missing, unknown or non-finite parameters, or
        parameter lengths that differ from the number of bands.

    Examples
    --------
    >>> import numpy as np
    >>> from galsynth.data.normalization import Normalization
    >>> norm = Normalization('minmax', 'gr', min=[-0.1, -0.2], max=[1.0, 2.0])
    >>> y = norm.forward(np.zeros((2, 4, 4), dtype=np.float32))
    >>> float(y[0, 0, 0]), float(y[1, 0, 0])  # doctest: +FLOAT_CMP
    (-0.8181818, -0.8181818)
    >>> norm.to_dict()
    {'kind': 'minmax', 'bands': 'gr', 'min': [-0.1, -0.2], 'max': [1.0, 2.0]}
    """

    def __init__(self, kind, bands=None, **params):
        if kind not in NORMALIZATION_PARAMETERS:
            msg = f'unknown normalization kind {kind!r}; known: {sorted(NORMALIZATION_PARAMETERS)}'
            raise ValueError(msg)
        self.kind = kind
        if kind == 'rgb8':
            bands = 'RGB' if bands is None else ''.join(bands)
            if len(bands) != 3:
                msg = f"'rgb8' normalization has 3 channels; got bands {bands!r}"
                raise ValueError(msg)
            self.bands = bands
        else:
            if bands is None:
                msg = f'{kind!r} normalization needs the bands'
                raise ValueError(msg)
            self.bands = ''.join(check_bands(bands))
        names = NORMALIZATION_PARAMETERS[kind]
        unknown = sorted(set(params) - set(names))
        missing = [n for n in names if n not in params]
        if unknown or missing:
            msg = (f'{kind!r} normalization takes parameters {list(names)}; '
                   f'missing {missing}, unknown {unknown}')
            raise ValueError(msg)
        self.params = {}
        for name in names:
            values = np.atleast_1d(np.asarray(params[name], dtype=np.float64))
            if values.shape != (len(self.bands),):
                msg = (f'{kind!r} parameter {name!r} needs {len(self.bands)} values (one per '
                       f'band of {self.bands!r}); got shape {values.shape}')
                raise ValueError(msg)
            if not np.isfinite(values).all():
                msg = f'{kind!r} parameter {name!r} has non-finite values {values.tolist()}'
                raise ValueError(msg)
            self.params[name] = values
        if kind == 'minmax' and not (self.params['max'] > self.params['min']).all():
            msg = (f"'minmax' needs max > min in every band; got min={self.params['min'].tolist()}"
                   f", max={self.params['max'].tolist()}")
            raise ValueError(msg)
        if kind == 'asinh':
            for name in ('softening', 'scale'):
                if not (self.params[name] > 0).all():
                    msg = (f"'asinh' parameter {name!r} must be > 0; "
                           f'got {self.params[name].tolist()}')
                    raise ValueError(msg)

    # ------------------------------------------------------------------ construction

    @classmethod
    def fit(cls, cubes, *, kind, bands, softening=None, percentiles=(0.0, 100.0)):
        """
        Fit the parameters on a whole data set.

        Parameters
        ----------
        cubes : array-like or iterable of array-like
            Images in nanomaggies, shape ``(N, C, H, W)`` (or an iterable of
            ``(C, H, W)`` arrays / tensors); for ``'rgb8'`` nothing is fitted.
        kind : {'minmax', 'asinh', 'rgb8'}
        bands : str or sequence of str
            The C bands.
        softening : float or sequence of float, optional
            ``'asinh'`` softening per band [nanomaggies] (default: the
            background noise of each band, 1.4826 x the MAD of the pixels
            within ``max(2, side // 8)`` of the image edges; for noiseless
            data 1e-3 of the largest absolute value).
        percentiles : tuple of 2 float, optional
            Percentiles of the data (per band, after the asinh for
            ``'asinh'``) mapped to -1 and 1. The default (0, 100) is the
            exact min and max: the method's min-max; e.g. (0.01, 99.99)
            ignores a few extreme pixels.

        Returns
        -------
        `Normalization`

        Raises
        ------
        ValueError
            For data with no finite pixel or a constant band.
        """
        if kind == 'rgb8':
            return cls('rgb8', bands)
        if kind not in NORMALIZATION_PARAMETERS:
            msg = f'unknown normalization kind {kind!r}; known: {sorted(NORMALIZATION_PARAMETERS)}'
            raise ValueError(msg)
        bands = ''.join(check_bands(bands))
        nb = len(bands)
        if kind == 'asinh':
            if softening is None:
                soft = np.empty(nb)
                border = _sample(cubes, nb, border=True)
                for c in range(nb):
                    v = border[c]
                    soft[c] = 1.4826 * np.median(np.abs(v - np.median(v)))
                if not (soft > 0).all():  # noiseless data: a small fraction of the peak
                    peak = _band_range(cubes, nb, (0.0, 100.0), None)
                    scale = np.maximum(np.abs(peak[0]), np.abs(peak[1]))
                    soft = np.where(soft > 0, soft, 1e-3 * np.maximum(scale, 1e-30))
            else:
                soft = np.broadcast_to(np.asarray(softening, dtype=np.float64), (nb,)).copy()
            transform = lambda v, c: np.arcsinh(v / soft[c])  # noqa: E731
        else:
            transform = None
        lo, hi = _band_range(cubes, nb, percentiles, transform)
        for c, b in enumerate(bands):
            if not hi[c] > lo[c]:
                msg = f'band {b!r} is constant over the data ({lo[c]}); cannot normalize it'
                raise ValueError(msg)
        if kind == 'minmax':
            params = {'min': lo, 'max': hi}
        else:
            params = {'softening': soft, 'offset': (hi + lo) / 2.0, 'scale': (hi - lo) / 2.0}
        return cls(kind, bands, **params)

    @classmethod
    def from_dict(cls, d):
        """
        Build from `to_dict`'s output.

        Parameters
        ----------
        d : dict

        Returns
        -------
        `Normalization`
        """
        d = dict(d)
        kind = d.pop('kind')
        bands = d.pop('bands', None)
        return cls(kind, bands, **d)

    @classmethod
    def from_header(cls, header, *, bands=None):
        """
        Read the normalization a product header records.

        `galsynth.products.make_galaxy` writes ``NORMKIND`` and, for every
        parameter, ``N<first three letters><band index>`` cards (e.g.
        ``NSOF0``, ``NOFF0``, ``NSCA0``); the bands come from ``BANDS``.

        Parameters
        ----------
        header : `~astropy.io.fits.Header` or dict-like
        bands : str, optional
            Bands, when the header has no ``BANDS`` card.

        Returns
        -------
        `Normalization`

        Raises
        ------
        ValueError
            When ``NORMKIND`` or a parameter card is missing.
        """
        if 'NORMKIND' not in header:
            msg = 'header has no NORMKIND card (no normalization recorded)'
            raise ValueError(msg)
        kind = str(header['NORMKIND']).strip()
        if kind not in NORMALIZATION_PARAMETERS:
            msg = f'header NORMKIND={kind!r} is not a known normalization'
            raise ValueError(msg)
        if bands is None:
            bands = str(header['BANDS']).strip() if 'BANDS' in header else None
        if kind == 'rgb8':
            return cls('rgb8', bands if bands and len(bands) == 3 else None)
        if bands is None:
            msg = 'header has no BANDS card; pass bands='
            raise ValueError(msg)
        params = {}
        for name in NORMALIZATION_PARAMETERS[kind]:
            keys = [f'N{name[:3].upper()}{i}' for i in range(len(bands))]
            missing = [k for k in keys if k not in header]
            if missing:
                msg = f'header lacks normalization card(s) {missing} of {kind!r}'
                raise ValueError(msg)
            params[name] = [float(header[k]) for k in keys]
        return cls(kind, bands, **params)

    def to_dict(self):
        """
        The normalization as a JSON-able dict.

        Returns
        -------
        dict
            ``{'kind': ..., 'bands': 'gri', '<parameter>': [one float per band], ...}``.
        """
        d = {'kind': self.kind, 'bands': self.bands}
        for name, values in self.params.items():
            d[name] = [float(v) for v in values]
        return d

    # ------------------------------------------------------------------ mapping

    @property
    def num_channels(self):
        """Number of channels (bands)."""
        return len(self.bands)

    def forward(self, x):
        """
        Map images to network space.

        Parameters
        ----------
        x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., C, H, W)``
            Nanomaggies (``'rgb8'``: 0-255 values).

        Returns
        -------
        Same type as ``x``
            Normalized values, about [-1, 1] (float32 unless ``x`` is
            another floating type).
        """
        t, back = self._as_float64(x)
        if self.kind == 'minmax':
            lo, hi = self._p('min', t), self._p('max', t)
            y = 2.0 * (t - lo) / (hi - lo) - 1.0
        elif self.kind == 'asinh':
            a = _asinh(t / self._p('softening', t))
            y = (a - self._p('offset', t)) / self._p('scale', t)
        else:
            y = t / 127.5 - 1.0
        return back(y)

    def inverse(self, y):
        """
        Map network outputs back to physical units.

        Parameters
        ----------
        y : `numpy.ndarray` or `torch.Tensor`, shape ``(..., C, H, W)``

        Returns
        -------
        Same type as ``y``
            Nanomaggies (``'rgb8'``: 0-255 values, not rounded or clipped).
        """
        t, back = self._as_float64(y)
        if self.kind == 'minmax':
            lo, hi = self._p('min', t), self._p('max', t)
            x = (t + 1.0) * ((hi - lo) / 2.0) + lo
        elif self.kind == 'asinh':
            x = self._p('softening', t) * _sinh(t * self._p('scale', t) + self._p('offset', t))
        else:
            x = (t + 1.0) * 127.5
        return back(x)

    __call__ = forward

    def _as_float64(self, x):
        """``x`` as float64 (array or tensor) and a function casting results back."""
        if _is_torch(x):
            import torch
            dtype = x.dtype if x.dtype.is_floating_point else torch.float32
            t = x.to(torch.float64)
            back = lambda r: r.to(dtype)  # noqa: E731
        else:
            arr = np.asarray(x)
            dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float32)
            t = arr.astype(np.float64)
            back = lambda r: r.astype(dtype)  # noqa: E731
        if t.ndim < 3 or t.shape[-3] != self.num_channels:
            msg = (f'expected shape (..., {self.num_channels}, H, W) for bands '
                   f'{self.bands!r}; got {tuple(t.shape)}')
            raise ValueError(msg)
        return t, back

    def _p(self, name, like):
        values = self.params[name].reshape(-1, 1, 1)
        if _is_torch(like):
            import torch
            return torch.as_tensor(values, dtype=torch.float64, device=like.device)
        return values

    # ------------------------------------------------------------------ comparison

    def __eq__(self, other):
        if not isinstance(other, Normalization):
            return NotImplemented
        return (self.kind == other.kind and self.bands == other.bands
                and all(np.array_equal(self.params[k], other.params[k]) for k in self.params))

    __hash__ = None

    def __repr__(self):
        params = ', '.join(f'{k}={np.round(v, 6).tolist()}' for k, v in self.params.items())
        sep = ', ' if params else ''
        return f'Normalization({self.kind!r}, {self.bands!r}{sep}{params})'


def _asinh(t):
    return t.asinh() if _is_torch(t) else np.arcsinh(t)


def _sinh(t):
    return t.sinh() if _is_torch(t) else np.sinh(t)


_CHUNK = 256            # images per chunk when fitting
_SAMPLE = 4_000_000     # pixels per band kept for medians and percentiles


def _chunks(cubes, n_bands):
    """Yield the images as float64 arrays of shape (n, C, H, W), a few at a time."""
    if _is_torch(cubes):
        cubes = cubes.detach().cpu()
    if hasattr(cubes, 'ndim') and hasattr(cubes, 'shape'):
        if cubes.ndim == 3:
            cubes = cubes[None]
        if cubes.ndim != 4 or cubes.shape[1] != n_bands:
            msg = f'expected images of shape (N, {n_bands}, H, W); got {tuple(cubes.shape)}'
            raise ValueError(msg)
        for k in range(0, cubes.shape[0], _CHUNK):
            chunk = cubes[k:k + _CHUNK]
            yield np.asarray(chunk.numpy() if _is_torch(chunk) else chunk, dtype=np.float64)
        return
    for item in cubes:
        a = np.asarray(item.detach().cpu().numpy() if _is_torch(item) else item,
                       dtype=np.float64)
        if a.ndim != 3 or a.shape[0] != n_bands:
            msg = f'expected images of shape ({n_bands}, H, W); got {a.shape}'
            raise ValueError(msg)
        yield a[None]


def _sample(cubes, n_bands, *, border=False):
    """
    A deterministic subsample (at most ``_SAMPLE`` finite pixels) of every band.

    With ``border``, only the pixels within ``max(2, side // 8)`` of the image
    edges: the sky around centred galaxies.
    """
    parts = [[] for _ in range(n_bands)]
    n = 0
    for chunk in _chunks(cubes, n_bands):
        if border:
            h, w = chunk.shape[-2:]
            m = max(2, min(h, w) // 8)
            edge = np.ones((h, w), dtype=bool)
            edge[m:h - m, m:w - m] = False
        for c in range(n_bands):
            v = chunk[:, c][:, edge].ravel() if border else chunk[:, c].ravel()
            parts[c].append(v[np.isfinite(v)])
        n += chunk[:, 0].size
    if n == 0:
        msg = 'no images to fit the normalization on'
        raise ValueError(msg)
    out = []
    for c in range(n_bands):
        v = np.concatenate(parts[c])
        if v.size == 0:
            msg = 'the images have no finite pixel'
            raise ValueError(msg)
        step = max(1, v.size // _SAMPLE)
        out.append(v[::step])
    return out


def _band_range(cubes, n_bands, percentiles, transform):
    """Per-band (lo, hi): exact min/max, or percentiles of a subsample."""
    lo_p, hi_p = percentiles
    if lo_p <= 0 and hi_p >= 100:
        lo = np.full(n_bands, np.inf)
        hi = np.full(n_bands, -np.inf)
        seen = False
        for chunk in _chunks(cubes, n_bands):
            seen = True
            for c in range(n_bands):
                v = chunk[:, c]
                v = v[np.isfinite(v)]
                if transform is not None:
                    v = transform(v, c)
                if v.size:
                    lo[c] = min(lo[c], v.min())
                    hi[c] = max(hi[c], v.max())
        if not seen:
            msg = 'no images to fit the normalization on'
            raise ValueError(msg)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            msg = 'the images have no finite pixel in some band'
            raise ValueError(msg)
        return lo, hi
    sample = _sample(cubes, n_bands)
    lo = np.empty(n_bands)
    hi = np.empty(n_bands)
    for c in range(n_bands):
        v = sample[c] if transform is None else transform(sample[c], c)
        lo[c] = np.percentile(v, lo_p)
        hi[c] = np.percentile(v, hi_p)
    return lo, hi

