# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``stylegan`` generator backend: galaxy products from a trained StyleGAN.

The backend loads an exported generator (a bundled model by name, or any
training checkpoint / exported file by path), draws latent vectors from
explicit seeds, runs the mapping and synthesis networks (the EMA generator,
with the per-layer noise fixed: ``noise_mode='const'``, so that a galaxy
depends only on its seed) and undoes the training normalization, so that the
products are in nanomaggies. Every product records the model name, the
SHA-256 of the weights file, its own seed, the request's base seed, its index
in the request and the truncation psi.

Style control (the point of a style-based generator): `StyleGANBackend.latents`
returns the w vectors of seeds, `StyleGANBackend.style_mix` copies coarse,
middle or fine styles from one galaxy into another, and
`StyleGANBackend.interpolate` walks in W between two galaxies.
"""

import logging
from pathlib import Path

import numpy as np

from ..bands import PIXEL_SCALE
from ..generator import GeneratorBackend
from ..products import make_galaxy
from ..utils.random import item_seeds

__all__ = ['StyleGANBackend', 'STYLE_LAYER_GROUPS']

log = logging.getLogger(__name__)

#: Named groups of style layers, as fractions of the synthesis layers (the
#: StyleGAN paper's coarse 4²–8², middle 16²–32² and fine 64²+ styles).
STYLE_LAYER_GROUPS = ('coarse', 'middle', 'fine')


def _broadcast(value, n, name):
    if value is None:
        return [None] * n
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        return [float(arr[0])] * n
    if arr.size != n:
        msg = f'{name} must be a scalar or have n={n} values; got {arr.size}'
        raise ValueError(msg)
    return [float(v) for v in arr]


def _check_psi(psi):
    psi = float(psi)
    if not 0.0 < psi <= 2.0:
        msg = f'truncation_psi must be in (0, 2]; got {psi}'
        raise ValueError(msg)
    return psi


class StyleGANBackend(GeneratorBackend):
    """
    Galaxy products from a trained StyleGAN generator.

    Parameters
    ----------
    model : str or path, optional
        Name of a bundled model (see `galsynth.models.available_models`) or
        path of a checkpoint / exported generator. Default: the bundled
        default model.
    device : str or `torch.device`, optional
        Where the network runs (``'cpu'``, ``'cuda'``, ...).
    verify : bool, optional
        For bundled models, check the SHA-256 of the weights against the
        model card (default `True`).
    """

    name = 'stylegan'

    def __init__(self, model=None, *, device='cpu', verify=True):
        import torch

        from .. import models
        from ..data.normalization import Normalization
        from ..stylegan.checkpoint import load_generator

        if model is None:
            model = models.DEFAULT_MODEL
        model = str(model)
        looks_like_path = Path(model).suffix in ('.pt', '.pth', '.pkl') or '/' in model
        if looks_like_path or Path(model).exists():
            path = Path(model)
            if not path.exists():
                msg = f'{path}: no such model file'
                raise FileNotFoundError(msg)
            self.model_name = path.stem
            card = None
        else:
            path = models.model_path(model)
            self.model_name = model
            card = models.model_card(model)
        self.model_path = path
        self.sha256 = models.sha256_of(path)
        if card is not None and verify and card.get('sha256') not in (None, self.sha256):
            msg = (f'{path}: SHA-256 {self.sha256} does not match the model card '
                   f"({card['sha256']}); the file is damaged or was replaced")
            raise ValueError(msg)
        self.card = card
        self.device = torch.device(device)
        self.G, self.meta = load_generator(path, device=self.device)
        self.G.eval().requires_grad_(False)
        norm = self.meta.get('normalization')
        if not norm or norm.get('kind') in (None, 'rgb8'):
            msg = (f'{path}: model was trained without a nanomaggy normalization '
                   f'({norm!r}); it cannot make calibrated galaxy products')
            raise ValueError(msg)
        self.normalization = Normalization.from_dict(norm)
        self._bands = tuple(self.meta['bands'])
        self._resolution = int(self.meta['resolution'])

    # -- description -------------------------------------------------------
    @property
    def bands(self):
        return self._bands

    @property
    def resolution(self):
        return self._resolution

    @property
    def pixel_scale(self):
        return PIXEL_SCALE

    @property
    def num_ws(self):
        """Number of style inputs (w vectors) of the synthesis network."""
        return int(self.G.num_ws)

    # -- latents -----------------------------------------------------------
    def _z(self, seeds):
        import torch

        zs = []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            zs.append(torch.randn(self.G.z_dim, generator=g))
        return torch.stack(zs).to(self.device)

    def latents(self, seeds, *, truncation_psi=1.0, truncation_cutoff=None):
        """
        The w vectors of galaxies, for reuse in `synthesize`.

        Parameters
        ----------
        seeds : int or sequence of int
            Per-galaxy seeds (the ``SEED`` card of a product).
        truncation_psi : float, optional
            Truncation towards the mean w, in (0, 2].
        truncation_cutoff : int, optional
            Truncate only the first ``truncation_cutoff`` style layers.

        Returns
        -------
        ws : `numpy.ndarray`, shape ``(n, num_ws, w_dim)``
        """
        import torch

        psi = _check_psi(truncation_psi)
        seeds = [int(s) for s in np.atleast_1d(seeds)]
        with torch.no_grad():
            ws = self.G.mapping(self._z(seeds), truncation_psi=psi,
                                truncation_cutoff=truncation_cutoff)
        return ws.cpu().numpy()

    def synthesize(self, ws, *, noise_mode='const'):
        """
        Images in nanomaggies from w vectors.

        Parameters
        ----------
        ws : array-like, shape ``(n, num_ws, w_dim)``
        noise_mode : {'const', 'random', 'none'}, optional
            Per-layer noise; ``'const'`` (default) is deterministic.

        Returns
        -------
        images : `numpy.ndarray`, shape ``(n, n_bands, R, R)``, float32
        """
        import torch

        ws = torch.as_tensor(np.asarray(ws), dtype=torch.float32, device=self.device)
        with torch.no_grad():
            img = self.G.synthesis(ws, noise_mode=noise_mode)
            img = self.normalization.inverse(img.float())
        return img.cpu().numpy().astype(np.float32)

    def _products(self, images, *, seeds, base_seed, indices, psi, ras, decs, zs, history,
                  extra=None):
        import torch

        for img, s, k, ra, dec, z in zip(images, seeds, indices, ras, decs, zs, strict=True):
            yield make_galaxy(
                img, bands=self._bands, ra=ra if ra is not None else 0.0,
                dec=dec if dec is not None else 0.0, redshift=z, generator=self.name,
                model_name=self.model_name, model_sha256=self.sha256, seed=s,
                base_seed=base_seed, latent_index=k, truncation_psi=psi,
                normalization=self.normalization.to_dict(),
                software={'TORCHVER': torch.__version__},
                history=history, extra_header=extra)

    # -- generation --------------------------------------------------------
    def iter_generate(self, n, *, seed=None, start=0, truncation_psi=1.0, truncation_cutoff=None,
                      ra=None, dec=None, redshift=None, batch_size=16, device=None,
                      noise_mode='const'):
        """
        Yield ``n`` galaxy products, ``batch_size`` network passes at a time.

        Parameters
        ----------
        n : int
            Number of galaxies (>= 1).
        seed : int, optional
            Base seed; galaxy *k* uses the per-galaxy seed
            ``galsynth.utils.random.item_seeds(seed, ...)[k]`` and depends only
            on ``seed`` and *k* (not on ``batch_size`` or ``n``). `None`
            draws a base seed from OS entropy (recorded as ``BASESEED``).
        start : int, optional
            Index of the first galaxy (to continue a request).
        truncation_psi : float, optional
            In (0, 2]; < 1 trades diversity for typicality.
        truncation_cutoff : int, optional
            Truncate only the first style layers.
        ra, dec : float or array of n floats, optional
            Sky positions (deg) written into the WCS (default 0, 0).
        redshift : float or array of n floats, optional
            Redshift written as ``REDSHIFT`` (the images do not depend on it).
        batch_size : int, optional
            Galaxies per network pass; memory stays constant in ``n``.
        device : str, optional
            Move the network to this device first.
        noise_mode : {'const', 'random', 'none'}, optional

        Yields
        ------
        `~astropy.io.fits.HDUList`
        """
        import torch

        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            msg = f'n must be a positive integer; got {n!r}'
            raise ValueError(msg)
        if batch_size < 1:
            msg = f'batch_size must be >= 1; got {batch_size}'
            raise ValueError(msg)
        psi = _check_psi(truncation_psi)
        if device is not None and torch.device(device) != self.device:
            self.device = torch.device(device)
            self.G.to(self.device)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        n = int(n)
        ras, decs, zs = (_broadcast(ra, n, 'ra'), _broadcast(dec, n, 'dec'),
                         _broadcast(redshift, n, 'redshift'))
        seeds = item_seeds(seed, n, start=start)
        history = [f'StyleGAN {self.model_name} (sha256 {self.sha256[:12]}...), '
                   f'psi={psi}, noise={noise_mode}',
                   f'de-normalized ({self.normalization.kind}) to nanomaggies']
        for lo in range(0, n, batch_size):
            sl = slice(lo, min(lo + batch_size, n))
            ws = self.latents(seeds[sl], truncation_psi=psi, truncation_cutoff=truncation_cutoff)
            images = self.synthesize(ws, noise_mode=noise_mode)
            yield from self._products(images, seeds=seeds[sl], base_seed=seed,
                                      indices=range(start + sl.start, start + sl.stop), psi=psi,
                                      ras=ras[sl], decs=decs[sl], zs=zs[sl], history=history)

    # -- style control -----------------------------------------------------
    def style_layers(self, layers):
        """
        Indices of the style inputs selected by a group name or indices.

        Parameters
        ----------
        layers : {'coarse', 'middle', 'fine'} or sequence of int or slice
            ``'coarse'``: the inputs of the 4²–8² blocks (pose, size, shape),
            ``'middle'``: 16²–32² (structure: bulge, arms, bars),
            ``'fine'``: 64² and up (colours, texture, noise).

        Returns
        -------
        list of int
        """
        n = self.num_ws
        if isinstance(layers, str):
            # two style inputs per resolution, starting at 4x4
            res_of = [4 * 2 ** (i // 2) for i in range(n)]
            groups = {'coarse': lambda r: r <= 8, 'middle': lambda r: 16 <= r <= 32,
                      'fine': lambda r: r >= 64}
            if layers not in groups:
                msg = f'unknown style group {layers!r}; use one of {STYLE_LAYER_GROUPS}'
                raise ValueError(msg)
            idx = [i for i in range(n) if groups[layers](res_of[i])]
            if not idx:
                msg = (f'style group {layers!r} is empty for a {self.resolution}x'
                       f'{self.resolution} model')
                raise ValueError(msg)
            return idx
        if isinstance(layers, slice):
            return list(range(n))[layers]
        idx = [int(i) for i in layers]
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            msg = f'style layer indices {bad} outside 0..{n - 1}'
            raise ValueError(msg)
        return idx

    def style_mix(self, seed_a, seed_b, *, layers='coarse', truncation_psi=1.0, ra=None,
                  dec=None, redshift=None):
        """
        Galaxy ``seed_a`` with the ``layers`` styles of galaxy ``seed_b``.

        Parameters
        ----------
        seed_a, seed_b : int
            Per-galaxy seeds of the destination and source galaxies.
        layers : str, sequence of int or slice, optional
            Which styles to copy from ``seed_b`` (see `style_layers`).
        truncation_psi : float, optional
        ra, dec, redshift : float, optional

        Returns
        -------
        `~astropy.io.fits.HDUList`
        """
        idx = self.style_layers(layers)
        psi = _check_psi(truncation_psi)
        ws = self.latents([seed_a, seed_b], truncation_psi=psi)
        mixed = ws[:1].copy()
        mixed[0, idx] = ws[1, idx]
        images = self.synthesize(mixed)
        history = [f'StyleGAN {self.model_name} style mix: seed {seed_a} with layers '
                   f'{idx} of seed {seed_b}, psi={psi}']
        return next(self._products(images, seeds=[None], base_seed=None, indices=[None],
                                   psi=psi, ras=[ra], decs=[dec], zs=[redshift],
                                   history=history,
                                   extra={'MIXDEST': (int(seed_a), 'seed of the mixed galaxy'),
                                          'MIXSEED': (int(seed_b), 'seed of the style source'),
                                          'MIXLAYER': (','.join(map(str, idx)),
                                                       'style inputs taken from MIXSEED')}))

    def interpolate(self, seed_a, seed_b, steps, *, truncation_psi=1.0, ra=None, dec=None,
                    redshift=None):
        """
        Galaxies along the straight line in W from ``seed_a`` to ``seed_b``.

        Parameters
        ----------
        seed_a, seed_b : int
        steps : int
            Number of galaxies, >= 2, including both ends.
        truncation_psi : float, optional
        ra, dec, redshift : float, optional

        Returns
        -------
        list of `~astropy.io.fits.HDUList`
        """
        if int(steps) < 2:
            msg = f'steps must be >= 2; got {steps}'
            raise ValueError(msg)
        psi = _check_psi(truncation_psi)
        ws = self.latents([seed_a, seed_b], truncation_psi=psi)
        t = np.linspace(0.0, 1.0, int(steps))[:, None, None]
        path = (1 - t) * ws[0] + t * ws[1]
        images = self.synthesize(path.astype(np.float32))
        out = []
        for k, img in enumerate(images):
            extra = {'INTERPA': (int(seed_a), 'interpolation start seed'),
                     'INTERPB': (int(seed_b), 'interpolation end seed'),
                     'INTERPT': (float(t[k, 0, 0]), 'position along the line in W')}
            out.extend(self._products(img[None], seeds=[None], base_seed=None, indices=[k],
                                      psi=psi, ras=[ra], decs=[dec], zs=[redshift],
                                      history=[f'W interpolation {seed_a} -> {seed_b}'],
                                      extra=extra))
        return out
