# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
SDSS acquisition with astroquery: galaxy catalogues and imaging frames.

`query_galaxies` selects nearby, large galaxies with spectroscopic redshifts
from the SDSS catalogue (``PhotoObj`` joined with ``SpecObj``) through
`astroquery.sdss.SDSSClass.query_sql`. `download_frames` fetches the
calibrated imaging frames of the fields these galaxies (or any coordinates)
lie in, from the same frame URLs that `astroquery.sdss.SDSSClass.get_images`
uses, through astroquery's request layer (``SDSS._request``), into a local
cache with a manifest: files already downloaded and verified are not
fetched again, so an interrupted download resumes; failed requests are
retried with exponential back-off; every file is verified (a FITS frame of
the expected band, field and shape) before it is moved into place.

The frames land as ``<cache_dir>/<run6>-<camcol>-<field4>/frame-<band>-...
.fits.bz2``, the layout `galsynth.data.frames.extract_frames_dir` reads.
"""

import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table

from ..bands import check_bands
from ..exceptions import GalsynthWarning
from ..utils.io import atomic_write, atomic_write_bytes
from .frames import FRAME_SHAPE, FrameID, frame_filename

__all__ = ['DownloadWarning', 'galaxy_query_sql', 'query_galaxies', 'fields_for_coordinates',
           'frame_url', 'download_frames', 'verify_frame_file', 'MANIFEST_NAME']

log = logging.getLogger(__name__)

#: Name of the download manifest in the cache folder.
MANIFEST_NAME = 'manifest.json'

# Units of the query_galaxies columns.
_UNITS = {'ra': u.deg, 'dec': u.deg, 'petroRad_r': u.arcsec, 'petroR50_r': u.arcsec,
          'petroR90_r': u.arcsec, 'petroMag_g': u.mag, 'petroMag_r': u.mag,
          'z': u.dimensionless_unscaled, 'zErr': u.dimensionless_unscaled}


class DownloadWarning(GalsynthWarning):
    """A file could not be downloaded or failed verification."""


def _client(sdss):
    if sdss is not None:
        return sdss
    from astroquery.sdss import SDSS
    return SDSS


def galaxy_query_sql(*, z_max=0.05, z_min=0.0, min_radius=20 * u.arcsec, limit=100):
    """
    The SQL of `query_galaxies`.

    Parameters
    ----------
    z_max, z_min, min_radius, limit
        See `query_galaxies`.

    Returns
    -------
    str
    """
    radius = u.Quantity(min_radius, u.arcsec).to_value(u.arcsec)
    limit = int(limit)
    if limit < 1:
        msg = f'limit must be >= 1; got {limit}'
        raise ValueError(msg)
    if not 0 <= z_min < z_max:
        msg = f'need 0 <= z_min < z_max; got z_min={z_min}, z_max={z_max}'
        raise ValueError(msg)
    return (f'SELECT TOP {limit} p.objID, p.ra, p.dec, s.z, s.zErr, '
            'p.petroRad_r, p.petroR50_r, p.petroR90_r, p.petroMag_g, p.petroMag_r, '
            'p.run, p.rerun, p.camcol, p.field '
            'FROM PhotoObj AS p JOIN SpecObj AS s ON s.bestObjID = p.objID '
            "WHERE s.class = 'GALAXY' AND s.zWarning = 0 "
            f'AND s.z > {float(z_min):.6g} AND s.z < {float(z_max):.6g} '
            f'AND p.petroRad_r > {radius:.6g} '
            'ORDER BY p.petroRad_r DESC')


def query_galaxies(*, z_max=0.05, z_min=0.0, min_radius=20 * u.arcsec, limit=100,
                   data_release=17, timeout=60, cache=False, sdss=None):
    """
    Large nearby galaxies with spectroscopic redshifts, from the SDSS catalogue.

    Galaxies (``SpecObj.class = 'GALAXY'``, ``zWarning = 0``) in
    ``z_min < z < z_max`` whose r-band Petrosian radius exceeds
    ``min_radius``, largest first, via
    `astroquery.sdss.SDSSClass.query_sql` (SQL: `galaxy_query_sql`).

    Parameters
    ----------
    z_max : float, optional
        Upper redshift limit.
    z_min : float, optional
        Lower redshift limit.
    min_radius : `~astropy.units.Quantity`, optional
        Minimum r-band Petrosian radius (arcsec when a number).
    limit : int, optional
        Maximum number of galaxies.
    data_release : int, optional
        SDSS data release.
    timeout : float, optional
        Seconds to wait for the server.
    cache : bool, optional
        Use astroquery's response cache.
    sdss : `astroquery.sdss.SDSSClass`, optional
        The client (default ``astroquery.sdss.SDSS``).

    Returns
    -------
    `~astropy.table.QTable`
        Columns ``objID``, ``ra``, ``dec`` [deg], ``z``, ``zErr``,
        ``petroRad_r``, ``petroR50_r``, ``petroR90_r`` [arcsec],
        ``petroMag_g``, ``petroMag_r`` [mag], ``run``, ``rerun``,
        ``camcol``, ``field``; empty when nothing matches.
        ``meta['sql']`` holds the query.

    Raises
    ------
    ValueError
        For invalid limits.
    astroquery.exceptions.RemoteServiceError
        When the server reports an error.
    """
    sql = galaxy_query_sql(z_max=z_max, z_min=z_min, min_radius=min_radius, limit=limit)
    log.info('SDSS DR%d query: %s', data_release, sql)
    result = _client(sdss).query_sql(sql, data_release=data_release, timeout=timeout,
                                     cache=cache)
    names = ['objID', 'ra', 'dec', 'z', 'zErr', 'petroRad_r', 'petroR50_r', 'petroR90_r',
             'petroMag_g', 'petroMag_r', 'run', 'rerun', 'camcol', 'field']
    if result is None:
        table = QTable(names=names, dtype=[np.uint64] + [float] * 9 + [int] * 4)
    else:
        missing = [n for n in names if n not in result.colnames]
        if missing:
            msg = f'SDSS query result lacks column(s) {missing}; got {result.colnames}'
            raise ValueError(msg)
        table = QTable(result[names])
    for name, unit in _UNITS.items():
        table[name] = u.Quantity(np.asarray(table[name], dtype=float), unit)
    for name in ('run', 'rerun', 'camcol', 'field'):
        table[name] = np.asarray(table[name], dtype=int)
    table.meta['sql'] = sql
    table.meta['data_release'] = int(data_release)
    return table


def fields_for_coordinates(coords, *, radius=2 * u.arcsec, data_release=17, timeout=60,
                           cache=False, sdss=None, batch=50):
    """
    The SDSS fields (run, rerun, camcol, field) of the objects nearest to positions.

    One SQL query (`astroquery.sdss.SDSSClass.query_sql`, with SkyServer's
    ``fGetNearestObjEq``) per ``batch`` positions.

    Parameters
    ----------
    coords : `~astropy.coordinates.SkyCoord`
        One or more positions.
    radius : `~astropy.units.Quantity`, optional
        Search radius.
    data_release, timeout, cache, sdss
        See `query_galaxies`.
    batch : int, optional
        Positions per query.

    Returns
    -------
    `~astropy.table.QTable`
        ``index`` (of the position), ``objID``, ``ra``, ``dec``, ``run``,
        ``rerun``, ``camcol``, ``field``; positions without an object within
        ``radius`` are absent.
    """
    coords = SkyCoord(coords).icrs
    if coords.isscalar:
        coords = coords.reshape((1,))
    r_arcmin = u.Quantity(radius, u.arcsec).to_value(u.arcmin)
    client = _client(sdss)
    rows = []
    for start in range(0, len(coords), batch):
        parts = []
        for k in range(start, min(start + batch, len(coords))):
            c = coords[k]
            parts.append(f'SELECT {k} AS idx, p.objID, p.ra, p.dec, p.run, p.rerun, p.camcol, '
                         f'p.field FROM dbo.fGetNearestObjEq({c.ra.deg:.7f}, {c.dec.deg:.7f}, '
                         f'{r_arcmin:.6g}) AS n JOIN PhotoObj AS p ON p.objID = n.objID')
        result = client.query_sql(' UNION ALL '.join(parts), data_release=data_release,
                                  timeout=timeout, cache=cache)
        if result is not None:
            rows.extend(result.iterrows('idx', 'objID', 'ra', 'dec', 'run', 'rerun', 'camcol',
                                        'field'))
    table = QTable(rows=rows or None, names=['index', 'objID', 'ra', 'dec', 'run', 'rerun',
                                             'camcol', 'field'],
                   dtype=[int, np.uint64, float, float, int, int, int, int])
    table['ra'].unit = u.deg
    table['dec'].unit = u.deg
    return table


def frame_url(band, frame_id, *, data_release=17):
    """
    The Science Archive Server URL of a frame (as `astroquery.sdss.SDSSClass.get_images` builds it).

    Parameters
    ----------
    band : str
    frame_id : `~galsynth.data.frames.FrameID`
    data_release : int, optional

    Returns
    -------
    str
    """
    from astroquery.sdss import SDSSClass, conf

    instrument = 'boss'
    if data_release > 12:
        instrument = 'eboss'
    if data_release > 17:
        instrument = 'prior-surveys/sdss4-dr17-eboss'
    return SDSSClass.IMAGING_URL_SUFFIX.format(
        base=conf.sas_baseurl, dr=data_release, instrument=instrument, rerun=frame_id.rerun,
        run=frame_id.run, camcol=frame_id.camcol, field=frame_id.field, band=band)


def verify_frame_file(path, *, band, frame_id, expected_shape=FRAME_SHAPE):
    """
    Check that a file is the expected SDSS frame.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    band : str
    frame_id : `~galsynth.data.frames.FrameID`
    expected_shape : tuple of int or None, optional
        ``(ny, nx)`` the image must have (None: any 2-D shape).

    Raises
    ------
    ValueError
        Naming the file and the problem (not FITS, truncated, too few HDUs,
        wrong shape, band, run, camcol).
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            n_hdu = len(hdul)
            header = hdul[0].header
            data = hdul[0].data
            if n_hdu >= 3:
                _ = hdul[1].data, hdul[2].data
    except Exception as exc:  # noqa: BLE001 - any failure to read means "not a valid frame"
        msg = f'{path}: not a readable FITS file ({type(exc).__name__}: {exc})'
        raise ValueError(msg) from None
    if n_hdu < 3:
        msg = f'{path}: {n_hdu} HDU(s); an SDSS frame has at least 3'
        raise ValueError(msg)
    if data is None or data.ndim != 2:
        msg = f'{path}: primary HDU is not a 2-D image'
        raise ValueError(msg)
    if expected_shape is not None and tuple(data.shape) != tuple(expected_shape):
        msg = f'{path}: image shape {data.shape}, expected {tuple(expected_shape)}'
        raise ValueError(msg)
    checks = {'FILTER': band, 'RUN': frame_id.run, 'CAMCOL': frame_id.camcol}
    for key, expected in checks.items():
        value = header.get(key)
        value = value.strip() if isinstance(value, str) else value
        if value != expected:
            msg = f'{path}: header {key}={value!r}, expected {expected!r}'
            raise ValueError(msg)


def _field_ids(table_or_coords, *, rerun, radius, data_release, timeout, sdss):
    if isinstance(table_or_coords, SkyCoord):
        table = fields_for_coordinates(table_or_coords, radius=radius,
                                       data_release=data_release, timeout=timeout, sdss=sdss)
    elif isinstance(table_or_coords, Table):
        table = table_or_coords
    else:
        msg = ('download_frames needs a table with run, camcol, field columns or a SkyCoord; '
               f'got {type(table_or_coords).__name__}')
        raise TypeError(msg)
    missing = [c for c in ('run', 'camcol', 'field') if c not in table.colnames]
    if missing:
        msg = f'table lacks column(s) {missing} (has {table.colnames})'
        raise ValueError(msg)
    ids = set()
    for row in table:
        rr = int(row['rerun']) if 'rerun' in table.colnames else rerun
        ids.add(FrameID(int(row['run']), int(row['camcol']), int(row['field']), rr))
    return sorted(ids)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _load_manifest(path):
    if not path.exists():
        return {'version': 1, 'files': {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning('%s: unreadable manifest (%s); starting a new one', path, exc)
        return {'version': 1, 'files': {}}
    manifest.setdefault('files', {})
    return manifest


def download_frames(table_or_coords, *, bands='gri', cache_dir, data_release=17, rerun=301,
                    radius=2 * u.arcsec, retries=3, backoff=2.0, timeout=60, progress=False,
                    expected_shape=FRAME_SHAPE, sdss=None):
    """
    Download (or find in the cache) the SDSS frames of fields.

    Parameters
    ----------
    table_or_coords : `~astropy.table.Table` or `~astropy.coordinates.SkyCoord`
        A table with ``run``, ``camcol``, ``field`` (and optionally
        ``rerun``) columns, e.g. from `query_galaxies`; or positions, whose
        fields `fields_for_coordinates` finds.
    bands : str, optional
        Bands to fetch for every field.
    cache_dir : str or `~pathlib.Path`
        Local folder; frames go to ``<cache_dir>/<run6>-<camcol>-<field4>/``
        and the manifest to ``<cache_dir>/manifest.json``.
    data_release : int, optional
        SDSS data release of the frame URLs.
    rerun : int, optional
        Rerun used when the table has no ``rerun`` column.
    radius : `~astropy.units.Quantity`, optional
        Search radius for positions.
    retries : int, optional
        Further attempts after a failed one (network error, HTTP 5xx or
        429, failed verification); an HTTP 4xx other than 429 is final.
    backoff : float, optional
        Seconds before the first retry; doubled at each further retry.
    timeout : float, optional
        Seconds to wait for the server.
    progress : bool, optional
        Show a progress bar.
    expected_shape : tuple of int or None, optional
        Image shape every frame must have.
    sdss : `astroquery.sdss.SDSSClass`, optional
        The client (default ``astroquery.sdss.SDSS``).

    Returns
    -------
    `~astropy.table.QTable`
        One row per frame: ``field_id``, ``band``, ``path``, ``url``,
        ``status`` (``'downloaded'``, ``'cached'`` or ``'failed'``),
        ``bytes``, ``error``.

    Warns
    -----
    DownloadWarning
        For every frame that could not be downloaded (naming its URL).
    """
    import requests
    from tqdm.auto import tqdm

    bands = check_bands(bands)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    client = _client(sdss)
    ids = _field_ids(table_or_coords, rerun=rerun, radius=radius, data_release=data_release,
                     timeout=timeout, sdss=client)
    manifest_path = cache_dir / MANIFEST_NAME
    manifest = _load_manifest(manifest_path)
    rows = []
    jobs = [(fid, b) for fid in ids for b in bands]
    for fid, band in tqdm(jobs, desc='SDSS frames', unit='file', disable=not progress):
        rel = f'{fid.name}/{frame_filename(band, fid)}'
        path = cache_dir / rel
        url = frame_url(band, fid, data_release=data_release)
        entry = manifest['files'].get(rel)
        if entry and entry.get('status') == 'ok' and path.is_file() \
                and path.stat().st_size == entry.get('bytes') and _sha256(path) == entry['sha256']:
            rows.append((fid.name, band, str(path), url, 'cached', entry['bytes'], ''))
            continue
        if path.is_file():
            try:  # a frame put there by hand, or before the manifest was written
                verify_frame_file(path, band=band, frame_id=fid, expected_shape=expected_shape)
            except ValueError as exc:
                log.warning('%s: invalid cached file, downloading again (%s)', path, exc)
            else:
                manifest['files'][rel] = {'url': url, 'bytes': path.stat().st_size,
                                          'sha256': _sha256(path), 'status': 'ok'}
                _save_manifest(manifest_path, manifest)
                rows.append((fid.name, band, str(path), url, 'cached', path.stat().st_size, ''))
                continue
        error = ''
        for attempt in range(retries + 1):
            try:
                response = client._request('GET', url, timeout=timeout, cache=False)
                response.raise_for_status()
                content = response.content
                with atomic_write(path, overwrite=True, mode='path') as tmp:
                    tmp.write_bytes(content)
                    verify_frame_file(tmp, band=band, frame_id=fid,
                                      expected_shape=expected_shape)
            except (requests.RequestException, ValueError, OSError) as exc:
                error = f'{type(exc).__name__}: {exc}'
                status = getattr(getattr(exc, 'response', None), 'status_code', None)
                final = status is not None and 400 <= status < 500 and status != 429
                if final or attempt == retries:
                    break
                delay = backoff * 2**attempt
                log.info('%s: attempt %d failed (%s); retrying in %.1f s', url, attempt + 1,
                         error, delay)
                time.sleep(delay)
            else:
                error = ''
                manifest['files'][rel] = {'url': url, 'bytes': len(content),
                                          'sha256': hashlib.sha256(content).hexdigest(),
                                          'status': 'ok'}
                _save_manifest(manifest_path, manifest)
                rows.append((fid.name, band, str(path), url, 'downloaded', len(content), ''))
                break
        if error:
            warnings.warn(f'{url}: download failed ({error})', DownloadWarning)
            manifest['files'][rel] = {'url': url, 'status': 'failed', 'error': error}
            _save_manifest(manifest_path, manifest)
            rows.append((fid.name, band, str(path), url, 'failed', 0, error))
    return QTable(rows=rows or None,
                  names=['field_id', 'band', 'path', 'url', 'status', 'bytes', 'error'],
                  dtype=['U13', 'U1', 'U300', 'U300', 'U10', int, 'U300'])


def _save_manifest(path, manifest):
    atomic_write_bytes(path, json.dumps(manifest, indent=1, sort_keys=True), overwrite=True)
