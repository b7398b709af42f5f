# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Geometric augmentation of galaxy images.

The method augments its training sets with rotations by multiples of 45°
(filling the corners that a 45° rotation uncovers with a constant 0 for the
simulated galaxies, by reflection about the edge for the real ones) and
flips. This module provides those, plus the exact transforms (rotations by
multiples of 90°, flips: pixel permutations, no interpolation) that GAN
augmentation needs later.

All functions take a numpy array or a torch tensor of shape ``(..., C, H,
W)`` and return the same type; rotations are counter-clockwise as displayed
with ``origin='lower'`` (row 0 at the bottom, as astronomical images are
shown), about the image centre.

`Augment` draws one transform per image from an explicit seed: the
transform of image ``index`` in epoch ``epoch`` depends only on ``(seed,
epoch, index)`` (a `numpy.random.SeedSequence` of the three), so it is the
same in any process, worker or order.
"""

import math

import numpy as np

__all__ = ['FILLS', 'rot90', 'flip', 'dihedral', 'rotate', 'Augment']

#: Fill modes of `rotate` for the pixels a rotation brings in from outside.
FILLS = ('constant', 'reflect', 'nearest')


def _is_torch(x):
    return type(x).__module__.split('.')[0] == 'torch'


def _check(x):
    if x.ndim < 2:
        msg = f'expected an image of shape (..., H, W); got shape {tuple(x.shape)}'
        raise ValueError(msg)


def rot90(x, k=1):
    """
    Rotate by ``k`` x 90° counter-clockwise (exact: a pixel permutation).

    Parameters
    ----------
    x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
    k : int, optional

    Returns
    -------
    Same type as ``x``
    """
    _check(x)
    k = int(k) % 4
    if _is_torch(x):
        import torch
        return torch.rot90(x, k, dims=(-1, -2))
    return np.ascontiguousarray(np.rot90(x, k, axes=(-1, -2)))


def flip(x, axis='x'):
    """
    Mirror an image (exact).

    Parameters
    ----------
    x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
    axis : {'x', 'y'}, optional
        ``'x'`` reverses the columns (left-right), ``'y'`` the rows.

    Returns
    -------
    Same type as ``x``
    """
    _check(x)
    if axis not in ('x', 'y'):
        msg = f"axis must be 'x' or 'y'; got {axis!r}"
        raise ValueError(msg)
    dim = -1 if axis == 'x' else -2
    if _is_torch(x):
        import torch
        return torch.flip(x, dims=(dim,))
    return np.ascontiguousarray(np.flip(x, axis=dim))


def dihedral(x, k):
    """
    One of the 8 exact symmetries of the square.

    Parameters
    ----------
    x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
    k : int
        0-3: rotation by ``k`` x 90°; 4-7: left-right flip, then rotation
        by ``(k - 4)`` x 90°.

    Returns
    -------
    Same type as ``x``
    """
    k = int(k)
    if not 0 <= k < 8:
        msg = f'dihedral index must be 0-7; got {k}'
        raise ValueError(msg)
    if k >= 4:
        x = flip(x, 'x')
    return rot90(x, k % 4)


def rotate(x, angle, *, fill='constant', value=0.0):
    """
    Rotate an image counter-clockwise about its centre.

    Multiples of 90° are exact (`rot90`); other angles resample with
    bilinear interpolation (`torch.nn.functional.grid_sample`).

    Parameters
    ----------
    x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
    angle : float
        Degrees, counter-clockwise.
    fill : {'constant', 'reflect', 'nearest'}, optional
        Values for the pixels that come from outside the image:
        ``'constant'`` (``value``; the method's choice for simulated
        galaxies on an empty background), ``'reflect'`` (mirror about the
        image edge; the method's choice for real images) or ``'nearest'``
        (the closest edge pixel).
    value : float, optional
        The constant of ``fill='constant'``.

    Returns
    -------
    Same type, shape and (floating) dtype as ``x``
    """
    _check(x)
    if fill not in FILLS:
        msg = f'fill must be one of {FILLS}; got {fill!r}'
        raise ValueError(msg)
    angle = float(angle)
    quarter = angle / 90.0
    if math.isclose(quarter, round(quarter), abs_tol=1e-12):
        return rot90(x, round(quarter))
    import torch
    import torch.nn.functional as F

    is_torch = _is_torch(x)
    t = x if is_torch else torch.from_numpy(np.ascontiguousarray(x))
    dtype = t.dtype if t.dtype.is_floating_point else torch.float32
    shape = t.shape
    h, w = shape[-2], shape[-1]
    t4 = t.reshape(-1, 1, h, w).to(torch.float64 if dtype == torch.float64 else torch.float32)
    # Output pixel (i, j) takes the input at the centre-relative position
    # rotated by -angle; x = column, y = row.
    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64) - (h - 1) / 2,
                            torch.arange(w, dtype=torch.float64) - (w - 1) / 2, indexing='ij')
    xin = c * xx + s * yy + (w - 1) / 2
    yin = -s * xx + c * yy + (h - 1) / 2
    # grid_sample's normalized coordinates, align_corners=False: -1 and 1 are
    # the outer edges of the border pixels.
    grid = torch.stack([(2 * xin + 1) / w - 1, (2 * yin + 1) / h - 1], dim=-1)
    grid = grid.to(t4.dtype).to(t4.device).expand(t4.shape[0], h, w, 2)
    mode = {'constant': 'zeros', 'reflect': 'reflection', 'nearest': 'border'}[fill]
    src = t4 - value if fill == 'constant' and value != 0 else t4
    out = F.grid_sample(src, grid, mode='bilinear', padding_mode=mode, align_corners=False)
    if fill == 'constant' and value != 0:
        out = out + value
    out = out.reshape(shape).to(dtype)
    return out if is_torch else out.numpy()


class Augment:
    """
    Random rotations and flips drawn from an explicit seed.

    Each call applies one rotation, by a multiple of 45° (``rotate45``) or
    of 90° (``rotate90`` only), then, with probability 1/2, a left-right
    flip (``flip``). Multiples of 90° and flips are exact; 45° rotations
    interpolate and fill the corners according to ``fill``.

    Parameters
    ----------
    rotate45 : bool, optional
        Draw the angle from 0, 45, ..., 315°.
    rotate90 : bool, optional
        Without ``rotate45``: draw it from 0, 90, 180, 270° (exact only).
    flip : bool, optional
        Flip half of the images.
    fill : {'constant', 'reflect', 'nearest'}, optional
        Fill of the 45° rotations (see `rotate`).
    value : float, optional
        The constant of ``fill='constant'``.
    seed : int, optional
        Base seed. The draw for ``(epoch, index)`` comes from
        ``numpy.random.default_rng(numpy.random.SeedSequence([seed, epoch,
        index]))``: first the rotation step, then the flip.

    Examples
    --------
    >>> import numpy as np
    >>> from galsynth.data.augment import Augment
    >>> aug = Augment(rotate45=False, seed=1)
    >>> img = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> out = aug(img, index=3, epoch=0)
    >>> out.shape
    (1, 4, 4)
    >>> np.array_equal(out, aug(img, index=3, epoch=0))
    True
    """

    def __init__(self, *, rotate45=True, rotate90=True, flip=True, fill='reflect', value=0.0,
                 seed=0):
        if fill not in FILLS:
            msg = f'fill must be one of {FILLS}; got {fill!r}'
            raise ValueError(msg)
        self.rotate45 = bool(rotate45)
        self.rotate90 = bool(rotate90)
        self.flip = bool(flip)
        self.fill = fill
        self.value = float(value)
        self.seed = int(seed)
        self._calls = 0

    @property
    def exact(self):
        """Whether every transform is exact (no 45° rotations)."""
        return not self.rotate45

    def params(self, index, epoch=0):
        """
        The transform drawn for an image.

        Parameters
        ----------
        index : int
            Image index in the data set.
        epoch : int, optional

        Returns
        -------
        angle : float
            Rotation, degrees counter-clockwise.
        flipped : bool
            Whether a left-right flip follows.
        """
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(epoch), int(index)]))
        return self._draw(rng)

    def _draw(self, rng):
        if self.rotate45:
            angle = 45.0 * int(rng.integers(8))
        elif self.rotate90:
            angle = 90.0 * int(rng.integers(4))
        else:
            angle = 0.0
        flipped = bool(rng.random() < 0.5) if self.flip else False
        return angle, flipped

    def apply(self, x, angle, flipped):
        """
        Apply a given rotation and flip.

        Parameters
        ----------
        x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
        angle : float
        flipped : bool

        Returns
        -------
        Same type as ``x``
        """
        out = rotate(x, angle, fill=self.fill, value=self.value)
        return flip(out, 'x') if flipped else out

    def __call__(self, x, *, index=None, epoch=0, rng=None):
        """
        Augment one image.

        Parameters
        ----------
        x : `numpy.ndarray` or `torch.Tensor`, shape ``(..., H, W)``
        index : int, optional
            Image index: the draw depends only on ``(seed, epoch, index)``.
        epoch : int, optional
        rng : `numpy.random.Generator`, optional
            Draw from this generator instead (when ``index`` is None). With
            neither, successive calls use indices 0, 1, 2, ... of epoch 0.

        Returns
        -------
        Same type as ``x``
        """
        if index is not None:
            angle, flipped = self.params(index, epoch)
        elif rng is not None:
            angle, flipped = self._draw(rng)
        else:
            angle, flipped = self.params(self._calls, 0)
            self._calls += 1
        return self.apply(x, angle, flipped)

    def to_dict(self):
        """The settings as a JSON-able dict."""
        return {'rotate45': self.rotate45, 'rotate90': self.rotate90, 'flip': self.flip,
                'fill': self.fill, 'value': self.value, 'seed': self.seed}

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())
        return f'Augment({args})'
