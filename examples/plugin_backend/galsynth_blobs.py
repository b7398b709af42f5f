# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
A minimal third-party galsynth backend: elliptical Gaussian "galaxies".

It shows everything a plugin needs: subclass
`galsynth.generator.GeneratorBackend`, describe the products (``bands``,
``resolution``), yield galaxy products from ``iter_generate`` (built with
`galsynth.products.make_galaxy`, so they carry units, WCS and provenance),
derive galaxy *k* from ``(seed, k)`` only, and register the class in the
``galsynth.generators`` entry-point group (see ``pyproject.toml`` beside this
file). Then ``GalaxyGenerator(backend='blobs')`` and
``galsynth generate --backend blobs`` use it.
"""

import numpy as np

from galsynth.bands import mag_to_flux
from galsynth.generator import GeneratorBackend
from galsynth.products import make_galaxy
from galsynth.utils.random import item_seeds

__all__ = ['BlobBackend']


class BlobBackend(GeneratorBackend):
    """Elliptical Gaussian galaxies with a red colour, in g, r and i."""

    name = 'blobs'

    def __init__(self, *, size=32):
        self.size = int(size)

    @property
    def bands(self):
        return ('g', 'r', 'i')

    @property
    def resolution(self):
        return self.size

    def iter_generate(self, n, *, seed=0, ra=None, dec=None, redshift=None, **kwargs):
        y, x = np.mgrid[:self.size, :self.size] - (self.size - 1) / 2
        for k, s in enumerate(item_seeds(seed if seed is not None else 0, n)):
            rng = np.random.default_rng(s)
            sigma, q, theta = rng.uniform(2, 5), rng.uniform(0.4, 1), rng.uniform(0, np.pi)
            xr = x * np.cos(theta) + y * np.sin(theta)
            yr = -x * np.sin(theta) + y * np.cos(theta)
            shape = np.exp(-0.5 * (xr**2 + (yr / q) ** 2) / sigma**2)
            shape /= shape.sum()
            mag_r = rng.uniform(15, 17)
            mags = (mag_r + 0.8, mag_r, mag_r - 0.4)  # g, r, i of a red galaxy
            cube = np.stack([mag_to_flux(m) * shape for m in mags])
            yield make_galaxy(cube, bands=self.bands, ra=ra or 0.0, dec=dec or 0.0,
                              redshift=redshift, generator=self.name, seed=s, base_seed=seed,
                              latent_index=k, truth={'mag_g': mags[0], 'mag_r': mags[1],
                                                     'mag_i': mags[2]})
