# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Adaptive discriminator augmentation restricted to transformations exact for galaxies.

`AugmentPipe` applies, per sample and each with probability ``p``: a flip,
a rotation by a multiple of 90 degrees, an integer translation (filled by
reflection about the edge, which continues the sky background), and
optionally a rotation by 45 degrees (bilinear, the only inexact one). The
integer transformations are a single differentiable gather of pixels, so
they are exact (no interpolation) and let gradients flow to the generator.
The same pipe (same distribution) is applied to real and generated images.

`AdaptiveAugment` tunes ``p`` during training from the sign of the
discriminator's outputs on real images (the ADA heuristic ``r_t = E[sign
D(real)]``) toward a target.
"""

import math

import torch
import torch.nn.functional as F

__all__ = ['AugmentPipe', 'AdaptiveAugment', 'FILL_MODES']

FILL_MODES = ('reflect', 'wrap', 'zero')


def _reflect(idx, n):
    """Reflect indices into [0, n) about the edge pixels (numpy 'reflect')."""
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    m = torch.remainder(idx, period)
    return torch.where(m >= n, period - m, m)


class AugmentPipe:
    """
    Random flips, 90-degree rotations and integer translations of image batches.

    Each enabled transformation is applied to each sample with probability
    ``p``, independently (as in ADA).

    Parameters
    ----------
    p : float
        Probability of applying each enabled transformation to each sample.
    rotate90 : bool
        Rotate by ``k * 90`` degrees, k uniform in {0, 1, 2, 3}.
    flip : bool
        Flip left-right; when applied (probability p) the image is flipped or
        not with equal odds, so that with ``rotate90`` and ``p = 1`` all 8
        symmetries of the square are equally likely.
    translate : float
        Maximum integer shift as a fraction of the image size (uniform in
        ``[-round(translate * H), round(translate * H)]`` pixels per axis);
        0 disables.
    rotate45 : bool
        Also rotate by 45 degrees (bilinear interpolation, reflected
        corners; not exact).
    fill : {'reflect', 'wrap', 'zero'}
        How pixels shifted in by a translation are filled.

    Raises
    ------
    ValueError
        For a probability outside [0, 1], a negative translation or an
        unknown fill mode.
    """

    def __init__(self, p=0.0, *, rotate90=True, flip=True, translate=0.125, rotate45=False,
                 fill='reflect'):
        if fill not in FILL_MODES:
            msg = f'fill must be one of {FILL_MODES}, got {fill!r}'
            raise ValueError(msg)
        if not 0 <= translate < 1:
            msg = f'translate must be in [0, 1), got {translate!r}'
            raise ValueError(msg)
        self.p = p
        self.rotate90 = rotate90
        self.flip = flip
        self.translate = translate
        self.rotate45 = rotate45
        self.fill = fill

    @property
    def p(self):
        """float: probability of each transformation."""
        return self._p

    @p.setter
    def p(self, value):
        value = float(value)
        if not 0 <= value <= 1:
            msg = f'augmentation probability must be in [0, 1], got {value!r}'
            raise ValueError(msg)
        self._p = value

    def sample_params(self, n, height, *, generator=None, device='cpu'):
        """
        Draw the per-sample transformation parameters.

        Parameters
        ----------
        n : int
            Number of samples.
        height : int
            Image size (for the translation range).
        generator : `torch.Generator` or None
            Random generator.
        device : str or `torch.device`
            Device of the returned tensors.

        Returns
        -------
        params : dict of `torch.Tensor`
            ``flip`` (bool [N]), ``k`` (int [N], quarter turns), ``tx``, ``ty``
            (int [N], pixels), ``rot45`` (bool [N]).
        """
        dev = generator.device if generator is not None else torch.device(device)
        p = self.p

        def chance():
            return torch.rand([n], generator=generator, device=dev) < p

        zeros = torch.zeros([n], dtype=torch.int64, device=dev)
        false = torch.zeros([n], dtype=torch.bool, device=dev)
        if self.flip:  # when applied, flip or not with equal odds (as k below)
            flip = chance() & (torch.rand([n], generator=generator, device=dev) < 0.5)
        else:
            flip = false
        if self.rotate90:
            apply = chance()
            k = torch.randint(0, 4, [n], generator=generator, device=dev)
            k = torch.where(apply, k, zeros)
        else:
            k = zeros
        shift = int(round(self.translate * height))
        if shift > 0:
            apply = chance()
            t = torch.randint(-shift, shift + 1, [2, n], generator=generator, device=dev)
            tx = torch.where(apply, t[0], zeros)
            ty = torch.where(apply, t[1], zeros)
        else:
            tx = ty = zeros
        rot45 = chance() if self.rotate45 else false
        params = dict(flip=flip, k=k, tx=tx, ty=ty, rot45=rot45)
        return {key: v.to(device) for key, v in params.items()}

    def apply(self, x, params):
        """
        Transform a batch with given parameters (deterministic).

        The output is ``translate(rotate90(flip(x)))`` then, where
        ``rot45``, a 45-degree rotation; the rotation by ``k`` quarter turns
        equals ``torch.rot90(x, k, dims=(-2, -1))``.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, C, H, W]``.
        params : dict
            As returned by `sample_params`.

        Returns
        -------
        y : `torch.Tensor`
            Same shape; differentiable w.r.t. ``x``.
        """
        n, c, h, w = x.shape
        dev = x.device
        k = params['k'].to(dev)
        flip = params['flip'].to(dev)
        tx = params['tx'].to(dev)
        ty = params['ty'].to(dev)
        if bool((k % 2 != 0).any()) and h != w:
            msg = f'90-degree rotations need square images, got {h}x{w}'
            raise ValueError(msg)
        if bool(flip.any() | (k != 0).any() | (tx != 0).any() | (ty != 0).any()):
            x = self._gather(x, flip, k, tx, ty)
        rot45 = params['rot45'].to(dev)
        if bool(rot45.any()):
            idx = rot45.nonzero().squeeze(1)
            x = x.index_copy(0, idx, _rotate(x.index_select(0, idx), math.pi / 4))
        return x

    def _gather(self, x, flip, k, tx, ty):
        n, c, h, w = x.shape
        dev = x.device
        i = torch.arange(h, device=dev).reshape(1, h, 1)
        j = torch.arange(w, device=dev).reshape(1, 1, w)
        # undo the translation: position in the rotated/flipped image
        i1 = i - ty.reshape(n, 1, 1)
        j1 = j - tx.reshape(n, 1, 1)
        valid = None
        if self.fill == 'reflect':
            i1, j1 = _reflect(i1, h), _reflect(j1, w)
        elif self.fill == 'wrap':
            i1, j1 = torch.remainder(i1, h), torch.remainder(j1, w)
        else:
            valid = (i1 >= 0) & (i1 < h) & (j1 >= 0) & (j1 < w)
            i1, j1 = i1.clamp(0, h - 1), j1.clamp(0, w - 1)
        i1, j1 = torch.broadcast_tensors(i1, j1)
        # undo the rotation in doubled centred coordinates (exact integers)
        u = 2 * j1 - (w - 1)
        v = 2 * i1 - (h - 1)
        kk = k.reshape(n, 1, 1)
        us = torch.where(kk == 0, u, torch.where(kk == 1, -v, torch.where(kk == 2, -u, v)))
        vs = torch.where(kk == 0, v, torch.where(kk == 1, u, torch.where(kk == 2, -v, -u)))
        # undo the flip
        us = torch.where(flip.reshape(n, 1, 1), -us, us)
        src = ((vs + (h - 1)) // 2) * w + (us + (w - 1)) // 2          # [N, H, W]
        out = x.flatten(2).gather(2, src.reshape(n, 1, h * w).expand(n, c, h * w))
        out = out.reshape(n, c, h, w)
        if valid is not None:
            out = torch.where(valid.unsqueeze(1), out, torch.zeros((), dtype=out.dtype,
                                                                   device=dev))
        return out

    def __call__(self, x, *, generator=None):
        """
        Augment a batch.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, C, H, W]``.
        generator : `torch.Generator` or None
            Random generator.

        Returns
        -------
        y : `torch.Tensor`
            ``x`` itself when ``p == 0``.
        """
        if self.p == 0:
            return x
        params = self.sample_params(x.shape[0], x.shape[2], generator=generator,
                                    device=x.device)
        return self.apply(x, params)

    def __repr__(self):
        return (f'AugmentPipe(p={self.p:.4g}, rotate90={self.rotate90}, flip={self.flip}, '
                f'translate={self.translate}, rotate45={self.rotate45}, fill={self.fill!r})')


def _rotate(x, angle):
    """Rotate images about their centre by an angle (radians), bilinear, reflected edges."""
    n = x.shape[0]
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='reflection',
                         align_corners=False)


class AdaptiveAugment:
    """
    Adaptive discriminator augmentation: tunes an `AugmentPipe`'s ``p``.

    Every ``interval`` calls of `update`, ``r_t = mean(sign(D(real)))`` over
    those calls is compared with ``target`` and ``p`` moves by
    ``sign(r_t - target) * images / (speed_kimg * 1000)`` (clipped to [0, 1]),
    so that p can go from 0 to 1 in ``speed_kimg`` thousand images.

    Parameters
    ----------
    pipe : `AugmentPipe`
        The pipe whose ``p`` is tuned (applied by calling this object).
    target : float
        Target of ``r_t``.
    speed_kimg : float
        Thousands of images for p to go from 0 to 1.
    interval : int
        Number of `update` calls between adjustments.
    """

    def __init__(self, pipe, *, target=0.6, speed_kimg=500, interval=4):
        if not 0 < speed_kimg:
            msg = f'speed_kimg must be > 0, got {speed_kimg!r}'
            raise ValueError(msg)
        if int(interval) != interval or interval < 1:
            msg = f'interval must be a positive integer, got {interval!r}'
            raise ValueError(msg)
        self.pipe = pipe
        self.target = float(target)
        self.speed_kimg = float(speed_kimg)
        self.interval = int(interval)
        self._sign_sum = 0.0
        self._count = 0
        self._images = 0
        self._calls = 0
        self.rt = None

    @property
    def p(self):
        """float: current augmentation probability."""
        return self.pipe.p

    @p.setter
    def p(self, value):
        self.pipe.p = value

    def __call__(self, x, *, generator=None):
        """Apply the pipe (see `AugmentPipe.__call__`)."""
        return self.pipe(x, generator=generator)

    def update(self, real_logits, batch_size=None):
        """
        Accumulate discriminator outputs on reals; adjust p every ``interval`` calls.

        Parameters
        ----------
        real_logits : `torch.Tensor`
            Discriminator outputs on (augmented) real images of the batch.
        batch_size : int or None
            Images processed in this step (all processes together); default
            the number of logits.

        Returns
        -------
        p : float
            Current probability.
        """
        logits = real_logits.detach().flatten()
        self._sign_sum += float(torch.sign(logits).sum())
        self._count += logits.numel()
        self._images += int(batch_size if batch_size is not None else logits.numel())
        self._calls += 1
        if self._calls >= self.interval:
            self.rt = self._sign_sum / max(self._count, 1)
            step = self._images / (self.speed_kimg * 1000)
            direction = math.copysign(1.0, self.rt - self.target) if self.rt != self.target \
                else 0.0
            self.p = min(max(self.p + direction * step, 0.0), 1.0)
            self._sign_sum = 0.0
            self._count = 0
            self._images = 0
            self._calls = 0
        return self.p

    def state_dict(self):
        """
        State for checkpoints.

        Returns
        -------
        state : dict
        """
        return {'p': self.p, 'target': self.target, 'speed_kimg': self.speed_kimg,
                'interval': self.interval, 'sign_sum': self._sign_sum, 'count': self._count,
                'images': self._images, 'calls': self._calls, 'rt': self.rt}

    def load_state_dict(self, state):
        """
        Restore a state from `state_dict`.

        Parameters
        ----------
        state : dict
        """
        self.p = state['p']
        self.target = float(state['target'])
        self.speed_kimg = float(state['speed_kimg'])
        self.interval = int(state['interval'])
        self._sign_sum = float(state['sign_sum'])
        self._count = int(state['count'])
        self._images = int(state['images'])
        self._calls = int(state['calls'])
        self.rt = state['rt']
