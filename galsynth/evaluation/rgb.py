# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The fixed RGB conversion of images for the FID and for report pictures.

An Inception network only sees 8-bit RGB pictures, so FITS galaxy products
are converted with one fixed, documented recipe, identical for every data
set and every generator (otherwise FIDs cannot be compared):

* bands i, r, g (in nanomaggies) as red, green, blue; a product without all
  three but with exactly three bands uses them from red to blue;
* the Lupton et al. (2004) arcsinh stretch of
  `galsynth.visualization.to_rgb` with the fixed parameters `FID_STRETCH`
  (0.5 nanomaggy), `FID_Q` (8) and black at 0 nanomaggy, unit band scales;
* North up (as `~galsynth.visualization.to_rgb` shows it);
* 8 bits per channel (uint8).

JPG and PNG files (e.g. SDSS or Galaxy Zoo colour cut-outs) are used as they
are, converted to RGB by Pillow.
"""

import logging
from pathlib import Path

import numpy as np

__all__ = [
    'FID_BANDS',
    'FID_STRETCH',
    'FID_Q',
    'FITS_SUFFIXES',
    'RASTER_SUFFIXES',
    'list_images',
    'is_fits',
    'product_to_rgb',
    'load_rgb',
]

log = logging.getLogger(__name__)

#: Bands shown as red, green and blue.
FID_BANDS = ('i', 'r', 'g')
#: Lupton linear stretch in nanomaggies (fixed for every data set).
FID_STRETCH = 0.5
#: Lupton softening parameter (fixed for every data set).
FID_Q = 8.0
#: File name endings read as galaxy products.
FITS_SUFFIXES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz', '.fits.fz')
#: File name endings read as 8-bit pictures.
RASTER_SUFFIXES = ('.jpg', '.jpeg', '.png')


def is_fits(path):
    """Whether a file name has a FITS ending (`FITS_SUFFIXES`)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def _is_raster(path):
    return str(path).lower().endswith(RASTER_SUFFIXES)


def list_images(source, *, kinds=('fits', 'raster')):
    """
    The image files of a folder and its subfolders, sorted by path.

    Folders written by ``galsynth extract`` hold one subfolder per field, so
    the search is recursive, like the training datasets'; hidden files and
    folders (caches) are skipped.

    Parameters
    ----------
    source : str, path or sequence of them
        A folder, or explicit file names (returned as given, checked).
    kinds : sequence of {'fits', 'raster'}, optional
        Which files to keep: galaxy products and/or JPG/PNG pictures.

    Returns
    -------
    list of `~pathlib.Path`

    Raises
    ------
    FileNotFoundError
        When the folder does not exist.
    ValueError
        When it holds no image of the requested kinds.
    """
    def wanted(p):
        return ('fits' in kinds and is_fits(p)) or ('raster' in kinds and _is_raster(p))

    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.exists():
            msg = f'{folder}: no such folder'
            raise FileNotFoundError(msg)
        if not folder.is_dir():
            msg = f'{folder}: not a folder'
            raise ValueError(msg)
        files = sorted(p for p in folder.rglob('*')
                       if p.is_file() and wanted(p.name)
                       and not any(part.startswith('.') for part in p.relative_to(folder).parts))
        if not files:
            msg = (f'{folder}: no image files ({", ".join(kinds)}: '
                   f'{", ".join(FITS_SUFFIXES + RASTER_SUFFIXES)})')
            raise ValueError(msg)
        return files
    files = [Path(p) for p in source]
    for p in files:
        if not p.is_file():
            msg = f'{p}: no such file'
            raise FileNotFoundError(msg)
    if not files:
        msg = 'no image files given'
        raise ValueError(msg)
    return files


def product_to_rgb(hdul, *, bands=None):
    """
    The fixed FID RGB picture of a galaxy product.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
        A galaxy product.
    bands : sequence of 3 str, optional
        Bands as red, green, blue; default `FID_BANDS` if present, else the
        product's three bands from red to blue.

    Returns
    -------
    `numpy.ndarray`, shape ``(ny, nx, 3)``, uint8

    Raises
    ------
    ValueError
        When no three bands can be chosen.
    """
    from ..products import galaxy_bands
    from ..visualization import to_rgb

    present = galaxy_bands(hdul)
    if bands is None:
        if all(b in present for b in FID_BANDS):
            bands = FID_BANDS
        elif len(present) == 3:
            bands = tuple(sorted(present, key='ugriz'.index, reverse=True))
        else:
            msg = (f'cannot make an RGB picture from bands {"".join(present)!r}: need i, r '
                   'and g, or exactly three bands')
            raise ValueError(msg)
    return to_rgb(hdul, tuple(bands), stretch=FID_STRETCH, Q=FID_Q, minimum=0.0)


def load_rgb(path, *, bands=None):
    """
    Read an image file as an RGB picture.

    Parameters
    ----------
    path : str or path
        A galaxy product (FITS, converted with `product_to_rgb`) or a
        JPG/PNG picture (used as it is).
    bands : sequence of 3 str, optional
        See `product_to_rgb`.

    Returns
    -------
    `numpy.ndarray`, shape ``(ny, nx, 3)``, uint8

    Raises
    ------
    ValueError
        Naming the file, when it cannot be read.
    """
    path = Path(path)
    if is_fits(path):
        from ..products import read_galaxy

        return product_to_rgb(read_galaxy(path), bands=bands)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert('RGB'), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        msg = f'{path}: not a readable picture ({exc})'
        raise ValueError(msg) from None
