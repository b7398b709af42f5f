# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulating many galaxies: in memory (`simulate`, `iter_simulate`) or into a
folder of FITS files with a catalogue (`simulate_to_dir`, the engine of
``galsynth simulate``).

Galaxy *k* of a request with base seed ``s`` has its own seed
``item_seeds(s, ...)[k]``: its parameters come from
``galaxy_rng(seed_k, 0)``, its seeing and neighbours from stream 1 and its
noise from stream 2. So a galaxy is the same whether it is made alone, in a
batch of any size, in another process, or in a resumed run.
"""

import json
import logging
import os
import warnings

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import QTable

from .. import __version__
from ..bands import PIXEL_SCALE, check_bands
from ..products import galaxy_truth, read_galaxy, write_galaxy
from ..utils.io import atomic_write, atomic_write_bytes, check_output_dir
from ..utils.parallel import parallel_map
from ..utils.random import item_seeds
from . import population as _population
from .population import PRESETS, draw_galaxy
from .render import TRUTH_COLUMNS, _render_galaxy

__all__ = ['simulate', 'iter_simulate', 'simulate_to_dir', 'galaxy_filename', 'CATALOG_NAME',
           'CONFIG_NAME', 'SIMULATION_MODEL']

log = logging.getLogger(__name__)

#: File name of the catalogue that `simulate_to_dir` writes.
CATALOG_NAME = 'catalog.ecsv'
#: File name of the run settings that `simulate_to_dir` writes (for resuming).
CONFIG_NAME = 'simulation.json'

#: Version of the simulation model (population, SEDs, PSF, noise). It is
#: written to ``simulation.json`` and the ``SIMMODEL`` header card, and a
#: folder made with another version is not resumed (its galaxies would differ).
SIMULATION_MODEL = 2


def galaxy_filename(index):
    """
    File name of galaxy ``index`` in a simulation folder.

    Parameters
    ----------
    index : int

    Returns
    -------
    str
        ``'galaxy_000042.fits'``.
    """
    return f'galaxy_{int(index):06d}.fits'


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        msg = f'size must be a positive integer; got {size!r}'
        raise ValueError(msg)
    return int(size)


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        msg = f'n must be a positive integer; got {n!r}'
        raise ValueError(msg)
    return int(n)


def _per_item(value, n, name):
    """A scalar (same for all) or a sequence of length n."""
    if value is None or np.ndim(value) == 0:
        return [None if value is None else value] * n
    values = list(value)
    if len(values) != n:
        msg = f'{name} has {len(values)} values for {n} galaxies'
        raise ValueError(msg)
    return values


def _options(size, bands, preset, noise, psf, neighbours, population_options):
    opts = {'size': _check_size(size), 'bands': ''.join(check_bands(bands)), 'preset': preset,
            'noise': bool(noise), 'psf': bool(psf), 'neighbours': bool(neighbours)}
    if preset not in PRESETS:
        msg = f'unknown population preset {preset!r}; known: {sorted(PRESETS)}'
        raise ValueError(msg)
    known = {'z_range', 'mag_limit', 'min_r50', 'max_r50', 'abs_mag_range'}
    unknown = set(population_options) - known
    if unknown:
        msg = f'unknown simulation option(s) {sorted(unknown)}'
        raise TypeError(msg)
    for key in sorted(known):
        value = population_options.get(key)
        if isinstance(value, u.Quantity):
            value = float(value.to_value(u.arcsec))
        elif value is not None and np.ndim(value) > 0:
            value = [float(v) for v in value]
        elif value is not None:
            value = float(value)
        opts[key] = value
    # Check the population limits now, before anything is written.
    cfg = _population._config(preset, z_range=opts['z_range'], mag_limit=opts['mag_limit'],
                              min_r50=opts['min_r50'], max_r50=opts['max_r50'],
                              abs_mag_range=opts['abs_mag_range'],
                              stamp_size=opts['size'] * PIXEL_SCALE)
    _population._z_proposal(*cfg['z_range'], cfg['mag_limit'], *cfg['abs_mag_range'])
    return opts


def _tasks(n, seed, start, opts, population, redshift, ra, dec):
    seeds = item_seeds(seed, n, start=start)
    redshifts = _per_item(redshift, n, 'redshift')
    ras = _per_item(ra, n, 'ra')
    decs = _per_item(dec, n, 'dec')
    rows = [None] * n
    if population is not None:
        if len(population) < start + n:
            msg = (f'population has {len(population)} rows; galaxies {start} to '
                   f'{start + n - 1} were asked for')
            raise ValueError(msg)
        names = population.colnames
        rows = [{c: population[start + i][c] for c in names if c != 'seed'} for i in range(n)]
    return [{'index': start + i, 'seed': seeds[i], 'base_seed': int(seed), 'params': rows[i],
             'redshift': redshifts[i], 'ra': ras[i], 'dec': decs[i], 'options': opts}
            for i in range(n)]


def _product(task):
    """Make the product of one task (module level: runs in worker processes)."""
    return _product_and_truth(task)[0]


def _product_and_truth(task):
    opts = task['options']
    params = task['params']
    size = opts['size']
    if params is None:
        params = draw_galaxy(task['seed'], preset=opts['preset'], redshift=task['redshift'],
                             z_range=opts['z_range'], mag_limit=opts['mag_limit'],
                             min_r50=opts['min_r50'], max_r50=opts['max_r50'],
                             abs_mag_range=opts['abs_mag_range'],
                             stamp_size=size * PIXEL_SCALE)
        origin = f'population preset {opts["preset"]!r} (galsynth.simulation.population)'
    else:
        params = dict(params)
        if task['redshift'] is not None:
            params['redshift'] = task['redshift']
        origin = 'parameters given by the caller'
    history = [f'galaxy {task["index"]} of request seed {task["base_seed"]}; {origin}']
    return _render_galaxy(params, size=size, bands=opts['bands'], seed=task['seed'],
                          noise=opts['noise'], psf=opts['psf'], neighbours=opts['neighbours'],
                          seeing=None, ra=task['ra'], dec=task['dec'], conditions=None,
                          base_seed=task['base_seed'], index=task['index'], history=history,
                          extra_header={'SIMPRSET': (opts['preset'], 'population preset'),
                                        'SIMMODEL': (SIMULATION_MODEL,
                                                     'galsynth simulation model version')},
                          date=None)


def _fresh_seed():
    return int(np.random.SeedSequence().entropy % (2 ** 63))


def iter_simulate(n, *, seed=None, start=0, size=256, bands='gri', population=None,
                  preset='sdss', redshift=None, ra=None, dec=None, noise=True, psf=True,
                  neighbours=True, jobs=1, progress=False, **population_options):
    """
    Yield ``n`` simulated galaxy products one at a time.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int, optional
        Base seed (default: fresh entropy, recorded as ``BASESEED``).
    start : int, optional
        Index of the first galaxy (to continue a request).
    size : int, optional
        Stamp size in pixels.
    bands : str or sequence of str, optional
        SDSS bands.
    population : `~astropy.table.QTable`, optional
        Galaxy parameters to render instead of drawing them (row
        ``start + i`` for galaxy ``i``; see
        `galsynth.simulation.complete_params`).
    preset : {'sdss', 'training'}, optional
        Population preset (see `galsynth.simulation.draw_population`).
    redshift : float or sequence, optional
        Redshift(s) of the galaxies (one value, or one per galaxy).
    ra, dec : float or sequence, optional
        Sky position(s) in degrees (default 0, 0).
    noise, psf, neighbours : bool, optional
        See `galsynth.simulation.render_galaxy`.
    jobs : int, optional
        Worker processes.
    progress : bool, optional
        Show a progress bar.
    **population_options
        ``z_range``, ``mag_limit``, ``min_r50``, ``max_r50``,
        ``abs_mag_range`` (see `galsynth.simulation.draw_population`).

    Yields
    ------
    `~astropy.io.fits.HDUList`
    """
    n = _check_n(n)
    opts = _options(size, bands, preset, noise, psf, neighbours, population_options)
    seed = _fresh_seed() if seed is None else int(seed)
    tasks = _tasks(n, seed, int(start), opts, population, redshift, ra, dec)
    yield from parallel_map(_product, tasks, jobs=jobs, progress=progress, desc='simulate',
                            unit='galaxy')


def simulate(n, **kwargs):
    """
    Simulate ``n`` galaxies (a list of products; see `iter_simulate`).

    Parameters
    ----------
    n : int
    **kwargs
        See `iter_simulate`.

    Returns
    -------
    list of `~astropy.io.fits.HDUList`

    Examples
    --------
    >>> from galsynth.simulation import simulate
    >>> hdul = simulate(1, seed=1, size=32, bands='r')[0]
    >>> bool(hdul['TRUTH'].data['mag_r'][0] < 17.77)
    True
    """
    return list(iter_simulate(n, **kwargs))


# ----------------------------------------------------------------------------
# Folders

def _write_task(task):
    """Make and write one galaxy; return its truth (module level: runs in workers)."""
    hdul, truth = _product_and_truth(task)
    write_galaxy(hdul, task['path'], overwrite=task['overwrite'])
    return truth


def _existing_ok(path, task, opts):
    """
    Truth of a finished file of this run; None if unusable; raise if foreign.

    Fast (a few ms a file, so that resuming thousands of files is quick): the
    headers are checked and the file size must match them (atomic writes
    leave no partial files, but a copied or damaged file may be truncated);
    the TRUTH row is read from its raw bytes.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # truncation is detected by the size check
            with fits.open(path, memmap=False) as hdul:
                names = [h.name for h in hdul]
                last = hdul[-1].fileinfo()
                hdr = hdul[0].header
                band = hdul[opts['bands'][0].upper()].header
                found = (hdr.get('BASESEED'), hdr.get('LATENTIX'), hdr.get('BANDS'),
                         (band.get('NAXIS2'), band.get('NAXIS1')))
                generator = hdr.get('GENERATR')
                truth_info = hdul['TRUTH'].fileinfo() if 'TRUTH' in names else None
                truth_header = hdul['TRUTH'].header if 'TRUTH' in names else None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning('%s: unreadable (%s); simulating it again', path, exc)
        return None
    if os.path.getsize(path) != last['datLoc'] + last['datSpan']:
        log.warning('%s: truncated; simulating it again', path)
        return None
    wanted = (task['base_seed'], task['index'], opts['bands'], (opts['size'], opts['size']))
    if found != wanted or generator != 'parametric':
        msg = (f'{path}: exists from a different simulation (seed, index, bands, shape '
               f'{found} != {wanted}); use overwrite (--overwrite) or another folder')
        raise FileExistsError(msg)
    missing = [b for b in opts['bands'] if b.upper() not in names]
    if missing or truth_header is None:
        log.warning('%s: incomplete product; simulating it again', path)
        return None
    return _read_truth(path, truth_header, truth_info['datLoc'])


def _read_truth(path, header, offset):
    """The TRUTH row from the raw bytes of the file (D, K, L and nA columns)."""
    from .render import _RAW_FORMATS

    fields = []
    for i in range(1, header['TFIELDS'] + 1):
        tform = header[f'TFORM{i}'].strip()
        if tform.endswith('A'):
            fmt = f'S{tform[:-1] or 1}'
        elif tform in _RAW_FORMATS:
            fmt = _RAW_FORMATS[tform]
        else:  # a column type this simulator does not write: take the general way
            return galaxy_truth(read_galaxy(path))
        fields.append((header[f'TTYPE{i}'], fmt))
    dtype = np.dtype(fields)
    with open(path, 'rb') as fh:
        fh.seek(offset)
        row = np.frombuffer(fh.read(dtype.itemsize), dtype=dtype)[0]
    truth = {}
    for name, fmt in fields:
        value = row[name]
        if fmt == 'S1':
            truth[name] = value == b'T'
        elif fmt.startswith('S'):
            truth[name] = value.decode('ascii').rstrip()
        else:
            truth[name] = value.item()
    return truth


def simulate_to_dir(n, output_dir, *, seed=None, size=256, bands='gri', preset='sdss',
                    noise=True, psf=True, neighbours=True, jobs=1, overwrite=False,
                    progress=False, **population_options):
    """
    Simulate ``n`` galaxies into a folder: one FITS file each and a catalogue.

    Writes ``galaxy_000000.fits`` ... (`galaxy_filename`), ``catalog.ecsv``
    (one row per file: ``path``, ``index`` and the truth) and
    ``simulation.json`` (the settings). The run is resumable: finished, valid
    files of the same simulation are kept (an interrupted run continues where
    it stopped; the seed is taken from ``simulation.json`` when not given)
    and the catalogue is rebuilt from all files.

    Parameters
    ----------
    n : int
        Number of galaxies.
    output_dir : str or path
        Folder (created if needed).
    seed : int, optional
        Base seed (default: the folder's previous seed, else fresh entropy).
    size : int, optional
        Stamp size in pixels.
    bands : str, optional
        SDSS bands.
    preset : str, optional
        Population preset.
    noise, psf, neighbours : bool, optional
        See `galsynth.simulation.render_galaxy`.
    jobs : int, optional
        Worker processes.
    overwrite : bool, optional
        Start over: replace existing files of any simulation. Without it, a
        folder holding a different simulation is refused.
    progress : bool, optional
        Show a progress bar.
    **population_options
        See `iter_simulate`.

    Returns
    -------
    `~astropy.table.QTable`
        The catalogue.

    Raises
    ------
    FileExistsError
        When the folder holds files of another simulation and ``overwrite``
        is not set.
    OSError
        When the folder cannot be created or written.
    """
    n = _check_n(n)
    opts = _options(size, bands, preset, noise, psf, neighbours, population_options)
    folder = check_output_dir(output_dir)
    config_path = folder / CONFIG_NAME
    previous = None
    if config_path.exists() and not overwrite:
        try:
            previous = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            msg = f'{config_path}: unreadable simulation settings ({exc}); use overwrite'
            raise ValueError(msg) from None
    if seed is None:
        seed = previous['seed'] if previous is not None else _fresh_seed()
    config = {'seed': int(seed), 'model': SIMULATION_MODEL, **opts}
    if previous is not None:
        diff = {k: (previous.get(k), v) for k, v in config.items() if previous.get(k) != v}
        if diff:
            msg = (f'{folder}: holds a simulation with other settings '
                   f'({", ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in diff.items())}); '
                   'use overwrite (--overwrite) or another folder')
            raise FileExistsError(msg)
    for stale in folder.glob('.galaxy_*.fits.*.tmp'):  # left by a killed atomic write
        stale.unlink()
    atomic_write_bytes(config_path, json.dumps({**config, 'galsynth': __version__}, indent=1),
                       overwrite=True)

    tasks = _tasks(n, seed, 0, opts, None, None, None, None)
    truths = [None] * n
    todo = []
    for task in tasks:
        path = folder / galaxy_filename(task['index'])
        task['path'] = str(path)
        task['overwrite'] = bool(overwrite)
        if path.exists() and not overwrite:
            truths[task['index']] = _existing_ok(path, task, opts)
            if truths[task['index']] is None:
                task['overwrite'] = True
            else:
                continue
        todo.append(task)
    if len(todo) < n:
        log.info('%s: %d of %d galaxies already done', folder, n - len(todo), n)
    for task, truth in zip(todo, parallel_map(_write_task, todo, jobs=jobs, progress=progress,
                                              desc='simulate', unit='galaxy'), strict=True):
        truths[task['index']] = truth
    catalog = _catalog(truths)
    with atomic_write(folder / CATALOG_NAME, overwrite=True, mode='path') as tmp:
        catalog.write(tmp, format='ascii.ecsv', overwrite=True)
    return catalog


def _catalog(truths):
    """One row per galaxy: file name, index and truth (with units)."""
    table = QTable()
    table['path'] = [galaxy_filename(i) for i in range(len(truths))]
    table['index'] = np.arange(len(truths))
    for name in truths[0]:
        values = [t[name] for t in truths]
        generic = (name.rsplit('_', 1)[0] + '_<band>'
                   if len(name.rsplit('_', 1)[-1]) == 1 else name)
        unit = TRUTH_COLUMNS.get(generic, TRUTH_COLUMNS.get(name, (None, '')))[0]
        col = np.array(values)
        table[name] = col * unit if unit is not None else col
    table.meta['comments'] = ['galsynth parametric simulation: one row per galaxy file']
    return table

