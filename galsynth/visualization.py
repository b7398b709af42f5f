# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Colour pictures of galaxy products.

`to_rgb` turns a product into an RGB image with the Lupton et al. (2004)
arcsinh stretch (`astropy.visualization.make_lupton_rgb`): the i, r and g
images (in nanomaggies) become red, green and blue, ``asinh(Q * I / stretch)
/ Q`` of the mean intensity ``I`` sets the brightness and colours are
preserved at every brightness. The defaults, ``stretch=0.5`` and ``Q=8``
nanomaggy-based, suit SDSS-depth galaxies of m_r ~ 14-18; pass the same
values to compare pictures.
"""

from pathlib import Path

import numpy as np
from astropy.visualization import make_lupton_rgb

from .products import galaxy_cube

__all__ = ['DEFAULT_Q', 'DEFAULT_STRETCH', 'to_rgb', 'tile', 'rgb_grid', 'save_rgb_grid']

#: Default Lupton softening parameter.
DEFAULT_Q = 8.0
#: Default Lupton linear stretch in nanomaggies.
DEFAULT_STRETCH = 0.5


def to_rgb(hdul, bands=('i', 'r', 'g'), *, stretch=DEFAULT_STRETCH, Q=DEFAULT_Q, minimum=0.0,
           scales=None):
    """
    Lupton RGB picture of a galaxy product.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList` or `numpy.ndarray`
        A galaxy product, or a ``(3, ny, nx)`` array already in the order
        of ``bands``.
    bands : sequence of 3 str, optional
        Bands shown as red, green and blue (default i, r, g).
    stretch : float, optional
        Linear stretch of the image (nanomaggies).
    Q : float, optional
        Asinh softening parameter.
    minimum : float, optional
        Intensity shown as black.
    scales : sequence of 3 float, optional
        Multiplicative factors per band before the stretch (default 1).

    Returns
    -------
    rgb : `numpy.ndarray`, shape ``(ny, nx, 3)``, uint8
        With North up (row 0 is the *top* of the picture).
    """
    if len(bands) != 3:
        msg = f'to_rgb needs 3 bands; got {bands!r}'
        raise ValueError(msg)
    cube = np.asarray(hdul, dtype=float) if isinstance(hdul, np.ndarray) else \
        galaxy_cube(hdul, bands).astype(float)
    cube = np.nan_to_num(cube, nan=0.0, posinf=0.0, neginf=0.0)
    if scales is not None:
        cube = cube * np.asarray(scales, dtype=float)[:, None, None]
    rgb = make_lupton_rgb(cube[0], cube[1], cube[2], minimum=minimum, stretch=stretch, Q=Q)
    # FITS row 0 is the bottom (south) of the sky image: flip for display.
    return np.ascontiguousarray(rgb[::-1])


def tile(pictures, *, ncols=8, pad=2):
    """
    Tile RGB pictures of one size into a grid, separated by black lines.

    Parameters
    ----------
    pictures : sequence of `numpy.ndarray`, shape ``(ny, nx, 3)``, uint8
    ncols : int, optional
        Pictures per row.
    pad : int, optional
        Pixels of black between pictures.

    Returns
    -------
    `numpy.ndarray`, shape ``(H, W, 3)``, uint8
    """
    if not len(pictures):
        msg = 'nothing to tile: no pictures given'
        raise ValueError(msg)
    ny, nx = pictures[0].shape[:2]
    ncols = min(ncols, len(pictures))
    nrows = -(-len(pictures) // ncols)
    grid = np.zeros((nrows * (ny + pad) - pad, ncols * (nx + pad) - pad, 3), dtype=np.uint8)
    for k, pic in enumerate(pictures):
        r, c = divmod(k, ncols)
        grid[r * (ny + pad):r * (ny + pad) + ny, c * (nx + pad):c * (nx + pad) + nx] = pic
    return grid


def rgb_grid(hduls, *, ncols=8, pad=2, **kwargs):
    """
    Tile the RGB pictures of several products into one array.

    Parameters
    ----------
    hduls : sequence of `~astropy.io.fits.HDUList` or arrays
        Products of the same size.
    ncols : int, optional
        Pictures per row.
    pad : int, optional
        Pixels of black between pictures.
    **kwargs
        Passed to `to_rgb`.

    Returns
    -------
    `numpy.ndarray`, shape ``(H, W, 3)``, uint8
    """
    if not len(hduls):
        msg = 'rgb_grid needs at least one product'
        raise ValueError(msg)
    return tile([to_rgb(h, **kwargs) for h in hduls], ncols=ncols, pad=pad)


def save_rgb_grid(hduls, path, *, ncols=8, pad=2, overwrite=False, **kwargs):
    """
    Write `rgb_grid` as a PNG file (atomically).

    Parameters
    ----------
    hduls : sequence of `~astropy.io.fits.HDUList`
    path : str or path
    ncols, pad : int, optional
        See `rgb_grid`.
    overwrite : bool, optional
    **kwargs
        Passed to `to_rgb`.

    Returns
    -------
    `~pathlib.Path`
    """
    import matplotlib.image

    from .utils.io import atomic_write

    grid = rgb_grid(hduls, ncols=ncols, pad=pad, **kwargs)
    with atomic_write(path, overwrite=overwrite) as fh:
        matplotlib.image.imsave(fh, grid, format='png')
    return Path(path)
