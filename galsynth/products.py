# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The galaxy product: the one FITS format of galsynth.

Simulated galaxies, real SDSS stamps and generated galaxies are all *galaxy
products*: an `astropy.io.fits.HDUList` with

* a PRIMARY HDU without data whose header holds the provenance
  (`PROVENANCE_KEYWORDS`, plus one ``HISTORY`` card per processing step);
* one `~astropy.io.fits.ImageHDU` per band, ``EXTNAME`` = the band letter in
  upper case (``'G'``, ``'R'``, ...), float32 data in nanomaggies
  (``BUNIT = 'nanomaggy'``), ``FILTER``, ``MAGZP = 22.5`` and a celestial TAN
  WCS (CD matrix for the pixel scale, ``CRPIX`` at the image centre,
  ``CRVAL`` = the requested RA/Dec, ICRS);
* optionally one inverse-variance ``ImageHDU`` per band, ``EXTNAME =
  'IVAR_<BAND>'``, in nanomaggy**-2;
* optionally a ``TRUTH`` binary table (the true parameters of a simulated
  galaxy, or the catalogue row of a real one).

`make_galaxy` builds one, `write_galaxy` writes it atomically and
`read_galaxy` reads and validates one.
"""

import datetime
import logging
import platform
import warnings
from pathlib import Path

import astropy
import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from .bands import BANDS, PIXEL_SCALE, ZEROPOINT, check_bands
from .utils.io import atomic_write

__all__ = [
    'PROVENANCE_KEYWORDS',
    'make_galaxy',
    'make_wcs',
    'write_galaxy',
    'read_galaxy',
    'validate_galaxy',
    'galaxy_bands',
    'galaxy_cube',
    'galaxy_ivar',
    'galaxy_truth',
    'add_history',
]

log = logging.getLogger(__name__)

#: Provenance keywords of the PRIMARY header: keyword -> meaning.
PROVENANCE_KEYWORDS = {
    'ORIGIN': 'software that wrote the file (galsynth)',
    'GSVER': 'galsynth version',
    'GENERATR': 'generator / backend name (parametric, stylegan, sdss, ...)',
    'MODEL': 'model name (StyleGAN backends)',
    'MODELSHA': 'SHA-256 of the model weights file',
    'SEED': 'random seed of this galaxy (re-creates it exactly)',
    'BASESEED': 'seed of the whole request the galaxy belongs to',
    'LATENTIX': 'index of the latent vector within the request',
    'TRUNCPSI': 'truncation psi of the StyleGAN sample',
    'DATE': 'creation date and time (UTC, ISO 8601)',
    'REDSHIFT': 'redshift assigned to the galaxy (-1 if unknown)',
    'BANDS': 'bands present, blue to red as stored',
    'PIXSCALE': 'pixel scale [arcsec/pixel]',
    'NORMKIND': 'normalization the model was trained with (minmax, asinh)',
    'PYVER': 'Python version',
    'NPVER': 'numpy version',
    'APVER': 'astropy version',
    'TORCHVER': 'PyTorch version (StyleGAN backends)',
    'GALSMVER': 'GalSim version (parametric backend)',
    'HISTORY': 'one card per processing step',
}


def _version():
    try:
        from . import __version__
    except ImportError:  # pragma: no cover - during package bootstrap
        return 'unknown'
    return __version__


def make_wcs(shape, *, ra=0.0, dec=0.0, pixel_scale=PIXEL_SCALE):
    """
    Celestial TAN WCS centred on ``(ra, dec)`` with North up and East left.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image.
    ra, dec : float or `~astropy.units.Quantity`, optional
        Coordinates of the image centre (degrees when plain numbers).
    pixel_scale : `~astropy.units.Quantity` or float, optional
        Pixel scale (arcsec/pixel when a plain number).

    Returns
    -------
    `~astropy.wcs.WCS`
    """
    ra = u.Quantity(ra, u.deg).to_value(u.deg)
    dec = u.Quantity(dec, u.deg).to_value(u.deg)
    if not -90.0 <= dec <= 90.0:
        msg = f'dec={dec} deg is outside [-90, 90]'
        raise ValueError(msg)
    scale = u.Quantity(pixel_scale, u.arcsec).to_value(u.deg)
    ny, nx = shape
    w = WCS(naxis=2)
    w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    w.wcs.cunit = ['deg', 'deg']
    w.wcs.crval = [ra % 360.0, dec]
    # FITS pixel coordinates are 1-based: the centre of an n-pixel axis is (n + 1) / 2.
    w.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    w.wcs.cd = np.array([[-scale, 0.0], [0.0, scale]])
    w.wcs.radesys = 'ICRS'
    w.wcs.equinox = 2000.0
    return w


def _set(hdr, key, value, comment=''):
    """Set a card, shortening the comment so that the card fits in 80 characters."""
    card = fits.Card(key, value)
    room = 80 - max(len(card.image.rstrip()), 30) - 3
    hdr[key] = (value, comment[:max(room, 0)]) if room > 0 else value


def _wcs_header(wcs):
    """The WCS cards of the band HDUs (built once per product)."""
    hdr = wcs.to_header()
    # astropy writes PC+CDELT by default; keep the CD matrix that SDSS frames use.
    for key in ('PC1_1', 'PC1_2', 'PC2_1', 'PC2_2', 'CDELT1', 'CDELT2'):
        hdr.remove(key, ignore_missing=True)
    cd = wcs.wcs.cd if wcs.wcs.has_cd() else wcs.pixel_scale_matrix
    for i in range(2):
        for j in range(2):
            hdr[f'CD{i + 1}_{j + 1}'] = float(cd[i, j])
    return hdr


def _band_header(band, wcs_header, *, zeropoint):
    hdr = wcs_header.copy()
    hdr['EXTNAME'] = band.upper()
    _set(hdr, 'BUNIT', 'nanomaggy', '1 nanomaggy = AB mag 22.5 = 3.631e-6 Jy')
    hdr['FILTER'] = (band, 'SDSS filter (speclite sdss2010 curve)')
    _set(hdr, 'MAGZP', float(zeropoint), 'AB magnitude of a flux of 1 BUNIT')
    return hdr


def make_galaxy(images, *, bands, ra=0.0, dec=0.0, pixel_scale=PIXEL_SCALE, redshift=None,
                generator='unknown', model_name=None, model_sha256=None, seed=None,
                base_seed=None, latent_index=None, truncation_psi=None, normalization=None,
                truth=None, ivar=None, wcs=None, history=(), extra_header=None,
                software=None, date=None):
    """
    Build a galaxy product.

    Parameters
    ----------
    images : array-like, shape ``(n_bands, ny, nx)``
        Images in nanomaggies, in the order of ``bands``.
    bands : str or sequence of str
        Band letters, e.g. ``'gri'``.
    ra, dec : float or `~astropy.units.Quantity`, optional
        Sky position of the image centre (deg).
    pixel_scale : `~astropy.units.Quantity`, optional
        Pixel scale (default SDSS 0.396127 arcsec).
    redshift : float, optional
        Redshift of the galaxy, written as ``REDSHIFT`` (-1 when unknown).
    generator : str, optional
        Name of what made the image (``'parametric'``, ``'stylegan'``, ``'sdss'``).
    model_name, model_sha256 : str, optional
        Model name and SHA-256 of its weights.
    seed, base_seed, latent_index : int, optional
        Seed of this galaxy, seed of the whole request, index in the request.
    truncation_psi : float, optional
        StyleGAN truncation.
    normalization : dict, optional
        Normalization parameters of the model (written as ``NORM*`` cards).
    truth : dict or `~astropy.table.Table`, optional
        True parameters, stored as a one-row ``TRUTH`` table.
    ivar : array-like, shape ``(n_bands, ny, nx)``, optional
        Inverse variance per band (nanomaggy**-2).
    wcs : `~astropy.wcs.WCS`, optional
        A WCS to use instead of the TAN WCS from ``ra``, ``dec``,
        ``pixel_scale`` (e.g. a stamp cut from a survey frame).
    history : sequence of str, optional
        Processing steps, one ``HISTORY`` card each.
    extra_header : dict, optional
        More PRIMARY cards: ``{key: value}`` or ``{key: (value, comment)}``.
    software : dict, optional
        ``{keyword: version}`` of further software versions.
    date : str, optional
        Creation date (ISO); default now (UTC). Pass a fixed value for
        byte-identical files.

    Returns
    -------
    `~astropy.io.fits.HDUList`
    """
    bands = check_bands(bands)
    data = np.asarray(images, dtype=np.float32)
    if data.ndim == 2 and len(bands) == 1:
        data = data[None]
    if data.ndim != 3 or data.shape[0] != len(bands):
        msg = (f'images must have shape (n_bands={len(bands)}, ny, nx); '
               f'got {data.shape}')
        raise ValueError(msg)
    ny, nx = data.shape[1:]
    if wcs is None:
        wcs = make_wcs((ny, nx), ra=ra, dec=dec, pixel_scale=pixel_scale)
    else:
        ra, dec = (float(v) for v in wcs.wcs_pix2world([[(nx - 1) / 2, (ny - 1) / 2]], 0)[0])
    pixel_scale = u.Quantity(pixel_scale, u.arcsec)

    primary = fits.PrimaryHDU()
    hdr = primary.header
    _set(hdr, 'ORIGIN', 'galsynth', 'https://example.invalid/galsynth')
    _set(hdr, 'GSVER', _version(), PROVENANCE_KEYWORDS['GSVER'])
    _set(hdr, 'GENERATR', str(generator), PROVENANCE_KEYWORDS['GENERATR'])
    if model_name is not None:
        _set(hdr, 'MODEL', str(model_name), PROVENANCE_KEYWORDS['MODEL'])
    if model_sha256 is not None:
        _set(hdr, 'MODELSHA', str(model_sha256), 'SHA-256 of the model weights')
    if seed is not None:
        _set(hdr, 'SEED', int(seed), PROVENANCE_KEYWORDS['SEED'])
    if base_seed is not None:
        _set(hdr, 'BASESEED', int(base_seed), PROVENANCE_KEYWORDS['BASESEED'])
    if latent_index is not None:
        _set(hdr, 'LATENTIX', int(latent_index), PROVENANCE_KEYWORDS['LATENTIX'])
    if truncation_psi is not None:
        _set(hdr, 'TRUNCPSI', float(truncation_psi), PROVENANCE_KEYWORDS['TRUNCPSI'])
    if date is None:
        date = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%S')
    hdr['DATE'] = (date, 'file creation date (UTC)')
    _set(hdr, 'REDSHIFT', float(redshift) if redshift is not None else -1.0,
         PROVENANCE_KEYWORDS['REDSHIFT'])
    _set(hdr, 'BANDS', ''.join(bands), PROVENANCE_KEYWORDS['BANDS'])
    _set(hdr, 'PIXSCALE', float(pixel_scale.to_value(u.arcsec)), '[arcsec/pixel]')
    hdr['RA'] = (float(u.Quantity(ra, u.deg).value), '[deg] image centre (ICRS)')
    hdr['DEC'] = (float(u.Quantity(dec, u.deg).value), '[deg] image centre (ICRS)')
    if normalization is not None:
        _write_normalization(hdr, normalization)
    _set(hdr, 'PYVER', platform.python_version(), 'Python version')
    _set(hdr, 'NPVER', np.__version__, 'numpy version')
    _set(hdr, 'APVER', astropy.__version__, 'astropy version')
    for key, version in (software or {}).items():
        _set(hdr, key, str(version), f'{key} software version')
    for key, value in (extra_header or {}).items():
        if isinstance(value, tuple):
            _set(hdr, key, *value)
        else:
            hdr[key] = value
    for line in history:
        hdr.add_history(str(line))

    hdus = [primary]
    wcs_header = _wcs_header(wcs)
    for band, img in zip(bands, data, strict=True):
        hdus.append(fits.ImageHDU(img, header=_band_header(band, wcs_header,
                                                           zeropoint=ZEROPOINT)))
    if ivar is not None:
        ivar = np.asarray(ivar, dtype=np.float32)
        if ivar.shape != data.shape:
            msg = f'ivar shape {ivar.shape} differs from the images {data.shape}'
            raise ValueError(msg)
        for band, iv in zip(bands, ivar, strict=True):
            h = _band_header(band, wcs_header, zeropoint=ZEROPOINT)
            h['EXTNAME'] = f'IVAR_{band.upper()}'
            h['BUNIT'] = ('nanomaggy-2', 'inverse variance of the band image')
            hdus.append(fits.ImageHDU(iv, header=h))
    if truth is not None:
        table = truth if isinstance(truth, Table) else Table(rows=[truth], names=list(truth))
        thdu = fits.table_to_hdu(table)
        thdu.name = 'TRUTH'
        hdus.append(thdu)
    return fits.HDUList(hdus)


def _write_normalization(hdr, normalization):
    """Write a normalization dict (see `galsynth.data.normalization`) as NORM* cards."""
    _set(hdr, 'NORMKIND', str(normalization['kind']), PROVENANCE_KEYWORDS['NORMKIND'])
    for key, values in normalization.items():
        if key in ('kind', 'bands'):
            continue
        values = np.atleast_1d(values)
        for i, v in enumerate(values):
            _set(hdr, f'N{key[:3].upper()}{i}', float(v), f'normalization {key}[{i}]')


def add_history(hdul, text):
    """
    Append a ``HISTORY`` card (a processing step) to a product's PRIMARY header.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    text : str
    """
    hdul[0].header.add_history(str(text))


def galaxy_bands(hdul):
    """
    The bands of a product, in file order.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`

    Returns
    -------
    tuple of str
        Lower-case band letters.
    """
    return tuple(h.name.lower() for h in hdul[1:]
                 if isinstance(h, fits.ImageHDU) and h.name.lower() in BANDS)


def galaxy_cube(hdul, bands=None):
    """
    The band images as one float32 array.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    bands : str or sequence of str, optional
        Bands to return, in this order (default: all, in file order).

    Returns
    -------
    `numpy.ndarray`, shape ``(n_bands, ny, nx)``
    """
    bands = galaxy_bands(hdul) if bands is None else check_bands(bands)
    return np.stack([np.asarray(hdul[b.upper()].data, dtype=np.float32) for b in bands])


def galaxy_ivar(hdul, bands=None):
    """
    The inverse-variance images, or `None` when the product has none.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    bands : str or sequence of str, optional

    Returns
    -------
    `numpy.ndarray` or `None`
    """
    bands = galaxy_bands(hdul) if bands is None else check_bands(bands)
    names = {h.name for h in hdul}
    if not all(f'IVAR_{b.upper()}' in names for b in bands):
        return None
    return np.stack([np.asarray(hdul[f'IVAR_{b.upper()}'].data, dtype=np.float32)
                     for b in bands])


def galaxy_truth(hdul):
    """
    The ``TRUTH`` table row as a dict, or `None`.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`

    Returns
    -------
    dict or `None`
    """
    if 'TRUTH' not in hdul:
        return None
    table = Table.read(hdul['TRUTH'])
    row = table[0]
    return {name: (row[name].item() if hasattr(row[name], 'item') else row[name])
            for name in table.colnames}


def write_galaxy(hdul, path, *, overwrite=False, checksum=True):
    """
    Write a galaxy product atomically.

    The file is written to a temporary name in the same folder and renamed
    over ``path`` when complete, so an interrupted write leaves no partial
    file and never damages an existing one.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    path : str or `~pathlib.Path`
    overwrite : bool, optional
        Replace an existing file (default: raise `FileExistsError`).
    checksum : bool, optional
        Write ``CHECKSUM``/``DATASUM`` cards.

    Returns
    -------
    path : `~pathlib.Path`
    """
    path = Path(path)
    validate_galaxy(hdul, source=path)
    with atomic_write(path, overwrite=overwrite, mode='path') as tmp:
        hdul.writeto(tmp, overwrite=True, checksum=checksum)
    return path


def read_galaxy(path, *, bands=None):
    """
    Read and validate a galaxy product.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    bands : str or sequence of str, optional
        Bands that must be present.

    Returns
    -------
    `~astropy.io.fits.HDUList`
        Loaded into memory (the file is closed).

    Raises
    ------
    ValueError
        Naming the file and the problem: not FITS or truncated, missing band
        HDU, wrong units, NaN-only data, shapes differing between bands.
    FileNotFoundError
        When the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        msg = f'{path}: no such file'
        raise FileNotFoundError(msg)
    try:
        with warnings.catch_warnings():
            # A truncated or damaged file shows up as a VerifyWarning: make it an error.
            warnings.simplefilter('error', fits.verify.VerifyWarning)
            # Our own file object, so that it is closed even when astropy fails mid-open.
            with open(path, 'rb') as fh, fits.open(fh, memmap=False, checksum=False,
                                                   lazy_load_hdus=False) as hdul:
                for h in hdul:
                    _ = h.data  # read into memory: a truncated file fails here
            copy = hdul  # data were read without memmap: usable after closing
    except (OSError, fits.VerifyError, fits.verify.VerifyWarning, ValueError, TypeError,
            IndexError) as exc:
        msg = f'{path}: not a readable FITS file ({exc})'
        raise ValueError(msg) from None
    validate_galaxy(copy, source=path, bands=bands)
    return copy


def validate_galaxy(hdul, *, source=None, bands=None):
    """
    Check that an HDUList is a valid galaxy product.

    Parameters
    ----------
    hdul : `~astropy.io.fits.HDUList`
    source : str or path, optional
        Name used in error messages.
    bands : str or sequence of str, optional
        Bands that must be present.

    Raises
    ------
    ValueError
        Describing the first problem found, prefixed with ``source``.
    """
    where = f'{source}: ' if source is not None else ''
    present = galaxy_bands(hdul)
    if not present:
        msg = f'{where}no band image HDU (EXTNAME one of {"".join(BANDS).upper()!r})'
        raise ValueError(msg)
    if bands is not None:
        missing = [b for b in check_bands(bands) if b not in present]
        if missing:
            msg = f'{where}missing band HDU(s) {"".join(missing).upper()!r}'
            raise ValueError(msg)
    shape = None
    for band in present:
        hdu = hdul[band.upper()]
        if hdu.data is None or hdu.data.ndim != 2:
            msg = f'{where}band {band.upper()} has no 2-D image'
            raise ValueError(msg)
        unit = str(hdu.header.get('BUNIT', '')).strip().lower()
        if unit not in ('nanomaggy', 'nanomaggies', 'nmgy'):
            msg = (f'{where}band {band.upper()} has BUNIT={hdu.header.get("BUNIT")!r}; '
                   "expected 'nanomaggy'")
            raise ValueError(msg)
        if not np.isfinite(hdu.data).any():
            msg = f'{where}band {band.upper()} has no finite pixel (all NaN/inf)'
            raise ValueError(msg)
        if shape is None:
            shape = hdu.data.shape
        elif hdu.data.shape != shape:
            msg = (f'{where}band {band.upper()} has shape {hdu.data.shape}, '
                   f'other bands {shape}')
            raise ValueError(msg)
