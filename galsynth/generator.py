# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`GalaxyGenerator`, the public face of galsynth, and its backend registry.

A *backend* is a class that makes galaxy products (see `galsynth.products`).
Backends are plugins: they are found through the entry-point group
``galsynth.generators`` (the built-in ``stylegan`` and ``parametric``
backends register the same way, in galsynth's own ``setup.cfg``), or
registered at run time with `register_backend`. A third-party package adds
one with, in its ``setup.cfg``::

    [options.entry_points]
    galsynth.generators =
        mybackend = mypackage.module:MyBackend

where ``MyBackend`` subclasses `GeneratorBackend`.
"""

import abc
import importlib.metadata
import logging

import astropy.units as u

from .bands import PIXEL_SCALE

__all__ = [
    'ENTRY_POINT_GROUP',
    'GalaxyGenerator',
    'GeneratorBackend',
    'available_backends',
    'get_backend',
    'register_backend',
]

log = logging.getLogger(__name__)

#: Entry-point group in which generator backends register.
ENTRY_POINT_GROUP = 'galsynth.generators'

#: The backend of ``GalaxyGenerator()`` without arguments.
DEFAULT_BACKEND = 'stylegan'

_registered = {}


class GeneratorBackend(abc.ABC):
    """
    Base class of generator backends.

    Subclasses implement `iter_generate` (and the three describing
    properties); `generate` collects it into a list.
    """

    #: Registry name of the backend.
    name = 'unknown'

    @property
    @abc.abstractmethod
    def bands(self):
        """Tuple of the band letters of the products."""

    @property
    @abc.abstractmethod
    def resolution(self):
        """Image size in pixels (square images), or `None` when selectable."""

    @property
    def pixel_scale(self):
        """Pixel scale of the products (`~astropy.units.Quantity`)."""
        return PIXEL_SCALE

    @abc.abstractmethod
    def iter_generate(self, n, *, seed=None, **kwargs):
        """
        Yield ``n`` galaxy products (`~astropy.io.fits.HDUList`) one by one.

        Parameters
        ----------
        n : int
            Number of galaxies (>= 1).
        seed : int, optional
            Base seed; the same seed gives the same galaxies.
        **kwargs
            Backend-specific options.
        """

    def generate(self, n, *, seed=None, **kwargs):
        """
        A list of ``n`` galaxy products; see `iter_generate`.

        Parameters
        ----------
        n : int
        seed : int, optional
        **kwargs

        Returns
        -------
        list of `~astropy.io.fits.HDUList`
        """
        return list(self.iter_generate(n, seed=seed, **kwargs))


def register_backend(name, cls):
    """
    Register a backend class at run time (in addition to the entry points).

    Parameters
    ----------
    name : str
    cls : type
        A `GeneratorBackend` subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, GeneratorBackend)):
        msg = f'{cls!r} is not a GeneratorBackend subclass'
        raise TypeError(msg)
    _registered[name] = cls


def _entry_points():
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_backends():
    """
    Names of all backends: entry points and run-time registrations.

    Returns
    -------
    list of str
    """
    return sorted(set(_entry_points()) | set(_registered))


def get_backend(name):
    """
    The backend class registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if name in _registered:
        return _registered[name]
    eps = _entry_points()
    if name not in eps:
        msg = f'unknown generator backend {name!r}; available: {available_backends()}'
        raise ValueError(msg)
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, GeneratorBackend)):
        msg = f'entry point {name!r} ({eps[name].value}) is not a GeneratorBackend subclass'
        raise TypeError(msg)
    return cls


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        msg = f'n must be a positive integer; got {n!r}'
        raise ValueError(msg)


class GalaxyGenerator:
    """
    Make synthetic galaxies as calibrated multi-band FITS products.

    Parameters
    ----------
    model : str or path, optional
        For the StyleGAN backend: the name of a bundled model or the path of
        a checkpoint; default the bundled default model.
    backend : str, optional
        Registry name of the backend (``'stylegan'``, default, or
        ``'parametric'``, the GalSim simulator, or a plugin's).
    **options
        Passed to the backend's constructor.

    Examples
    --------
    >>> from galsynth import GalaxyGenerator
    >>> gen = GalaxyGenerator(backend='parametric')
    >>> [h.name for h in gen.generate(1, seed=3, size=32)[0]][:4]
    ['PRIMARY', 'G', 'R', 'I']
    """

    def __init__(self, model=None, *, backend=DEFAULT_BACKEND, **options):
        cls = get_backend(backend)
        if model is not None:
            options['model'] = model
        self.backend = cls(**options)

    @classmethod
    def from_pretrained(cls, name, **options):
        """
        A StyleGAN generator from a model bundled with galsynth.

        Parameters
        ----------
        name : str
            Model name (see ``galsynth.models``).
        **options
            Passed to the backend.

        Returns
        -------
        `GalaxyGenerator`
        """
        return cls(model=name, backend='stylegan', **options)

    @classmethod
    def from_checkpoint(cls, path, **options):
        """
        A StyleGAN generator from a training checkpoint file.

        Parameters
        ----------
        path : str or path
        **options
            Passed to the backend.

        Returns
        -------
        `GalaxyGenerator`
        """
        return cls(model=str(path), backend='stylegan', **options)

    @property
    def bands(self):
        """Band letters of the products (tuple of str)."""
        return tuple(self.backend.bands)

    @property
    def resolution(self):
        """Image size in pixels."""
        return self.backend.resolution

    @property
    def pixel_scale(self):
        """Pixel scale (`~astropy.units.Quantity`, arcsec)."""
        return u.Quantity(self.backend.pixel_scale, u.arcsec)

    def iter_generate(self, n, *, seed=None, **kwargs):
        """
        Yield ``n`` galaxy products one at a time (constant memory in ``n``).

        Parameters
        ----------
        n : int
            Number of galaxies, >= 1.
        seed : int, optional
            Base seed; galaxy *k* of a request depends only on ``seed`` and *k*.
        **kwargs
            Backend options (see `generate`).

        Yields
        ------
        `~astropy.io.fits.HDUList`
        """
        _check_n(n)
        return self.backend.iter_generate(n, seed=seed, **kwargs)

    def generate(self, n, *, seed=None, **kwargs):
        """
        Make ``n`` galaxies.

        Parameters
        ----------
        n : int
            Number of galaxies, >= 1.
        seed : int, optional
            Base seed: the same seed gives identical arrays.
        **kwargs
            Backend options: for ``'stylegan'`` ``truncation_psi``, ``ra``,
            ``dec``, ``redshift``, ``batch_size``, ``device``; for
            ``'parametric'`` ``size``, ``bands``, ``ra``, ``dec``,
            ``redshift``.

        Returns
        -------
        list of `~astropy.io.fits.HDUList`
        """
        return list(self.iter_generate(n, seed=seed, **kwargs))

    def __getattr__(self, name):
        # Style-control methods (style_mix, interpolate, latents) live on the
        # backends that support them.
        if name.startswith('_') or name == 'backend':
            raise AttributeError(name)
        try:
            return getattr(self.backend, name)
        except AttributeError:
            msg = f'{type(self).__name__} with backend {self.backend.name!r} has no {name!r}'
            raise AttributeError(msg) from None

    def __repr__(self):
        return (f'<GalaxyGenerator backend={self.backend.name!r} bands={"".join(self.bands)!r} '
                f'resolution={self.resolution}>')

