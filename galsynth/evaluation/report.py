# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The evaluation report: every metric of `galsynth.evaluation` for two folders.

`evaluate` compares a folder of real galaxies with a folder of generated
ones (and optionally the training set) and writes into a report folder

* ``metrics.json``: FID and KID, CMD acceptance with its real-vs-real
  baseline, property distances (Wasserstein per property and mean, Fréchet,
  KS and energy tests), nearest-neighbour (memorization) statistics, the
  sample sizes and the settings; a metric that could not be computed is
  ``null`` with a ``<name>_reason`` key saying why;
* figures: ``cmd.png`` (real / generated / both with the acceptance box),
  ``properties.png`` (histograms real vs generated), ``nearest_neighbors.png``
  (generated images with their 4 nearest training images),
  ``samples_real.png`` and ``samples_generated.png`` (RGB grids);
* ``photometry_real.ecsv`` and ``photometry_generated.ecsv`` (the `measure`
  tables);
* ``index.html``, which shows the numbers and the figures.

Folders may hold galaxy products (FITS) and/or JPG/PNG pictures; pictures
only enter the FID/KID, the sample grids and, when a set has no FITS, the
nearest-neighbour search (on RGB values).
"""

import datetime
import html
import json
import logging
import math
import platform
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..bands import BANDS
from ..exceptions import PhotometryWarning
from ..utils.io import atomic_write, atomic_write_bytes, check_output_dir
from ..visualization import tile
from .cmd import DEFAULT_K, cmd_acceptance, plot_cmd
from .distances import property_distances
from .memorization import memorization, normalize_images
from .rgb import FID_BANDS, FID_Q, FID_STRETCH, is_fits, list_images, load_rgb, product_to_rgb

__all__ = ['REPORT_FILES', 'evaluate', 'write_index_html']

log = logging.getLogger(__name__)

#: Files written by `evaluate` (figures only when their data exist).
REPORT_FILES = ('metrics.json', 'index.html', 'cmd.png', 'properties.png',
                'nearest_neighbors.png', 'samples_real.png', 'samples_generated.png',
                'photometry_real.ecsv', 'photometry_generated.ecsv')

#: Pictures per sample grid.
GRID_SIZE = 32


class _Set:
    """The files of one data set and what was read from them."""

    def __init__(self, name, source):
        self.name = name
        self.files = list_images(source)
        self.fits = [f for f in self.files if is_fits(f)]
        self.hduls = []
        self.redshifts = np.array([])

    def read_products(self, *, progress):
        from ..products import read_galaxy

        hduls, z = [], []
        for f in tqdm(self.fits, disable=not progress, desc=f'reading {self.name}',
                      unit='file'):
            hdul = read_galaxy(f)
            hduls.append(hdul)
            z.append(float(hdul[0].header.get('REDSHIFT', -1.0)))
        self.hduls = hduls
        self.redshifts = np.array(z, dtype=float)

    def bands(self):
        from ..products import galaxy_bands

        common = None
        for h in self.hduls:
            b = set(galaxy_bands(h))
            common = b if common is None else common & b
        return common or set()

    def pictures(self, indices=None):
        """RGB pictures (FID conversion) of some files, each made once."""
        idx = range(len(self.files)) if indices is None else indices
        if not hasattr(self, '_pictures'):
            self._pictures = {}
            self._fits_pos = {f: i for i, f in enumerate(self.fits)}
        out = []
        for i in idx:
            if i not in self._pictures:
                f = self.files[i]
                if f in self._fits_pos and self.hduls:
                    self._pictures[i] = product_to_rgb(self.hduls[self._fits_pos[f]])
                else:
                    self._pictures[i] = load_rgb(f)
            out.append(self._pictures[i])
        return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def _save_figure(fig, path, overwrite):
    with atomic_write(path, overwrite=overwrite) as fh:
        fig.savefig(fh, format='png', dpi=80)


def _tile(pictures, ncols=8, pad=2):
    """Tile uint8 RGB pictures (resized to the first one's size) into one array."""
    from PIL import Image

    ny, nx = pictures[0].shape[:2]
    pics = [p if p.shape[:2] == (ny, nx) else
            np.asarray(Image.fromarray(p).resize((nx, ny), Image.BICUBIC)) for p in pictures]
    return tile(pics, ncols=ncols, pad=pad)


def _save_png(array, path, overwrite):
    from PIL import Image

    with atomic_write(path, overwrite=overwrite) as fh:
        Image.fromarray(array).save(fh, format='png', optimize=True)


def _sample_indices(n, size, rng):
    if n <= size:
        return list(range(n))
    return sorted(rng.choice(n, size, replace=False).tolist())


def _plot_properties(real, generated, names, path, overwrite, wasserstein=None):
    from matplotlib.figure import Figure

    from .distances import _column

    ncols = 4
    nrows = -(-len(names) // ncols)
    height = 2.6 * nrows
    fig = Figure(figsize=(3.2 * ncols, height))
    # (constrained layout is several times slower to draw for many panels)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.55 / height, top=1 - 0.35 / height,
                        hspace=0.55, wspace=0.3)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, name in zip(axes, names, strict=False):
        r, unit = _column(real, name)
        g, _ = _column(generated, name, unit)
        r, g = r[np.isfinite(r)], g[np.isfinite(g)]
        both = np.concatenate([r, g])
        if both.size == 0:
            ax.set_title(f'{name}: no values')
            continue
        lo, hi = np.percentile(both, [0.5, 99.5])
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 25)
        ax.hist(np.clip(r, lo, hi), bins=bins, density=True, histtype='stepfilled', alpha=0.45,
                color='tab:blue', label=f'real ({r.size})')
        ax.hist(np.clip(g, lo, hi), bins=bins, density=True, histtype='step', lw=1.8,
                color='tab:orange', label=f'generated ({g.size})')
        unit_s = f' [{unit}]' if unit is not None and str(unit) else ''
        ax.set_xlabel(f'{name}{unit_s}')
        if wasserstein is not None and name in wasserstein:
            ax.set_title(f'W = {wasserstein[name]:.3f}', fontsize='small')
    for ax in axes[len(names):]:
        ax.set_visible(False)
    axes[0].legend(fontsize='small')
    _save_figure(fig, path, overwrite)


def _plot_neighbors(gen_pics, train_pics, mse, path, overwrite):
    from matplotlib.figure import Figure

    nrows, ncols = len(gen_pics), 1 + len(train_pics[0])
    height = 1.7 * nrows
    fig = Figure(figsize=(1.6 * ncols, height))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.05 / height, top=1 - 0.3 / height,
                        hspace=0.3, wspace=0.05)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for r in range(nrows):
        axes[r, 0].imshow(gen_pics[r])
        axes[r, 0].set_title('generated', fontsize='small')
        for c, pic in enumerate(train_pics[r]):
            axes[r, c + 1].imshow(pic)
            axes[r, c + 1].set_title(f'MSE {mse[r, c]:.3g}', fontsize='small')
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    _save_figure(fig, path, overwrite)


def _measure(sset, *, jobs, progress, morphology):
    """Photometry of the products of a set; warnings are logged and counted."""
    from ..photometry import measure

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        table = measure([str(f) for f in sset.fits], detection_band='r',
                        morphology=morphology, jobs=jobs, progress=progress)
    for w in caught:
        log.info('%s photometry: %s: %s', sset.name, w.category.__name__, w.message)
    if caught:
        msg = (f'{len(caught)} photometry warning(s) for the {len(sset.fits)} {sset.name} '
               'products (see the flags column of the photometry table)')
        warnings.warn(msg, PhotometryWarning)
    return table, len(caught)


def evaluate(real, generated, *, train=None, out_dir, redshift=None, generated_redshift='median',
             k=DEFAULT_K, compute_fid=True, cache_dir=None, kcorrection=None, border=0,
             normalization='minmax', morphology=True, n_permutations=500, n_splits=200,
             kid_subsets=100, seed=0, jobs=1, progress=False, overwrite=False):
    """
    Evaluate generated galaxies against real ones and write a report.

    Parameters
    ----------
    real : str or path
        Folder of real galaxies (galaxy products and/or JPG/PNG), ideally
        *not* used for training: it is also the held-out baseline of the
        memorization check.
    generated : str or path
        Folder of generated galaxies.
    train : str or path, optional
        Folder of the training images, for the nearest-neighbour
        (memorization) check; skipped when absent.
    out_dir : str or path
        Report folder (created).
    redshift : float, optional
        Redshift of real galaxies whose product has no ``REDSHIFT`` (> 0)
        in its header. Without any real redshift the CMD is skipped.
    generated_redshift : 'median', float, array-like or distribution, optional
        Redshifts of the generated galaxies (see
        `~galsynth.evaluation.cmd.generated_redshifts`); default the real
        sample's median, as in the method.
    k : float, optional
        CMD box half-width in standard deviations.
    compute_fid : bool, optional
        Compute FID and KID (needs ``galsynth[fid]``; when it is missing the
        values are ``null`` with a reason).
    cache_dir : str, path or False, optional
        Inception feature cache (see
        `~galsynth.evaluation.fid.dataset_features`).
    kcorrection : None or 'template', optional
        K-correction of M_r in the CMD (default none, as in the method).
    border : int, optional
        Pixels ignored at each edge in the nearest-neighbour search.
    normalization : {'minmax', 'asinh', None}, optional
        Image normalization before the nearest-neighbour search (see
        `~galsynth.evaluation.memorization.normalize_images`).
    morphology : bool, optional
        Measure morphology (Gini, M20, ...) in the photometry.
    n_permutations : int, optional
        Permutations of the energy test.
    n_splits : int, optional
        Random halves of the CMD real-vs-real baseline.
    kid_subsets : int, optional
        Subsets of the KID estimate.
    seed : int, optional
        Seed of every random choice (baseline splits, permutations, KID
        subsets, redshift draws, grid samples).
    jobs : int, optional
        Processes for the photometry.
    progress : bool, optional
        Progress bars.
    overwrite : bool, optional
        Replace the files of an existing report.

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Raises
    ------
    FileExistsError
        When ``out_dir/metrics.json`` exists and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    if (out_dir / 'metrics.json').exists() and not overwrite:
        msg = f'{out_dir}: a report exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    rng = np.random.default_rng(seed)
    rs = _Set('real', real)
    gs = _Set('generated', generated)
    ts = _Set('train', train) if train is not None else None
    check_output_dir(out_dir)
    metrics = {
        'n_real': len(rs.files), 'n_generated': len(gs.files),
        'n_train': len(ts.files) if ts is not None else None,
        'fid': None, 'kid': None, 'kid_std': None,
        'cmd_acceptance': None, 'cmd_acceptance_real_baseline': None,
        'cmd_acceptance_ratio': None,
        'wasserstein_mean': None, 'wasserstein': None, 'property_frechet': None,
        'nn_mse_median': None,
    }
    figures = {}

    # --- FID / KID ---------------------------------------------------------------------
    if compute_fid:
        from .fid import (
            FIDDependencyError,
            dataset_features,
            fid_from_features,
            kid_from_features,
        )
        try:
            fr = dataset_features(rs.files, cache_dir=cache_dir, progress=progress)
            fg = dataset_features(gs.files, cache_dir=cache_dir, progress=progress)
            metrics['fid'] = fid_from_features(fr, fg)
            metrics['kid'], metrics['kid_std'] = kid_from_features(
                fr, fg, n_subsets=kid_subsets, seed=seed)
        except FIDDependencyError as exc:
            metrics['fid_reason'] = metrics['kid_reason'] = str(exc)
            log.warning('FID/KID skipped: %s', exc)
        except ValueError as exc:
            metrics['fid_reason'] = metrics['kid_reason'] = str(exc)
            log.warning('FID/KID failed: %s', exc)
    else:
        metrics['fid_reason'] = metrics['kid_reason'] = 'disabled (--no-fid)'

    # --- photometry, property distances, CMD ---------------------------------------------
    rs.read_products(progress=progress)
    gs.read_products(progress=progress)
    tables = None
    if rs.fits and gs.fits:
        try:
            tr, nwr = _measure(rs, jobs=jobs, progress=progress, morphology=morphology)
            tg, nwg = _measure(gs, jobs=jobs, progress=progress, morphology=morphology)
            tables = tr, tg
        except ValueError as exc:
            reason = f'photometry failed: {exc}'
            metrics['properties_reason'] = metrics['cmd_reason'] = reason
            log.warning('%s', reason)
    else:
        reason = 'needs galaxy products (FITS) in both the real and the generated folder'
        metrics['properties_reason'] = metrics['cmd_reason'] = reason
    if tables is not None:
        metrics['photometry_warnings'] = {'real': nwr, 'generated': nwg}
        # Redshifts of the real galaxies: the product's REDSHIFT card, else the given one.
        tr['redshift'] = np.where(rs.redshifts > 0, rs.redshifts,
                                  redshift if redshift is not None else np.nan)
        for label, table in (('real', tr), ('generated', tg)):
            with atomic_write(out_dir / f'photometry_{label}.ecsv', overwrite=overwrite,
                              mode='path') as tmp:
                table.write(tmp, format='ascii.ecsv', overwrite=True)
        try:
            dist = property_distances(tr, tg, n_permutations=n_permutations, seed=seed)
            metrics.update(wasserstein_mean=dist['wasserstein_mean'],
                           wasserstein=dist['wasserstein'],
                           property_frechet=dist['property_frechet'])
            metrics['properties'] = dist
            _plot_properties(tr, tg, dist['properties'], out_dir / 'properties.png', overwrite,
                             wasserstein=dist['wasserstein'])
            figures['properties.png'] = ('Property distributions, real vs generated; W: 1-D '
                                         'Wasserstein distance in units of the real std')
        except ValueError as exc:
            metrics['properties_reason'] = str(exc)
            log.warning('property distances skipped: %s', exc)
        if np.any(np.isfinite(np.asarray(tr['redshift'], dtype=float))):
            try:
                res = cmd_acceptance(tr, tg, generated_redshift=generated_redshift, k=k,
                                     n_splits=n_splits, seed=seed, kcorrection=kcorrection)
                metrics.update(cmd_acceptance=res.acceptance,
                               cmd_acceptance_real_baseline=res.real_baseline,
                               cmd_acceptance_ratio=res.ratio, cmd=res.to_dict())
                plot_cmd(res, out_dir / 'cmd.png', overwrite=overwrite)
                figures['cmd.png'] = (f'Colour-magnitude diagram; box: real median ± {k:g}σ')
            except ValueError as exc:
                metrics['cmd_reason'] = str(exc)
                log.warning('CMD acceptance skipped: %s', exc)
        else:
            metrics['cmd_reason'] = ('no redshift for the real galaxies (no REDSHIFT in their '
                                     'headers): pass redshift= / --redshift')

    # --- memorization ------------------------------------------------------------------
    if ts is not None:
        try:
            _memorization(metrics, figures, rs, gs, ts, out_dir=out_dir, border=border,
                          normalization=normalization, progress=progress,
                          overwrite=overwrite, train_path=Path(train), real_path=Path(real),
                          jobs=jobs)
        except ValueError as exc:
            metrics['memorization_reason'] = str(exc)
            log.warning('memorization check skipped: %s', exc)
    else:
        metrics['memorization_reason'] = 'no training set given (train= / --train)'

    # --- sample grids ------------------------------------------------------------------
    for label, sset in (('real', rs), ('generated', gs)):
        idx = _sample_indices(len(sset.files), GRID_SIZE, rng)
        try:
            pictures = sset.pictures(idx)
        except ValueError as exc:  # e.g. products without three bands
            metrics[f'samples_{label}_reason'] = str(exc)
            log.warning('no %s sample grid: %s', label, exc)
            continue
        _save_png(_tile(pictures), out_dir / f'samples_{label}.png', overwrite)
        figures[f'samples_{label}.png'] = f'{len(idx)} {label} galaxies (FID RGB conversion)'

    metrics['settings'] = {
        'real': str(real), 'generated': str(generated),
        'train': str(train) if train is not None else None,
        'redshift': redshift,
        'generated_redshift': (generated_redshift if isinstance(generated_redshift,
                                                                (str, int, float))
                               else repr(generated_redshift)),
        'k': k, 'kcorrection': kcorrection, 'border': border, 'normalization': normalization,
        'morphology': morphology, 'n_permutations': n_permutations, 'n_splits': n_splits,
        'kid_subsets': kid_subsets, 'seed': seed,
        'rgb_conversion': {'bands': list(FID_BANDS), 'stretch': FID_STRETCH, 'Q': FID_Q},
    }
    from .. import __version__

    metrics['software'] = {'galsynth': __version__, 'python': platform.python_version(),
                           'numpy': np.__version__}
    metrics['date'] = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%S')
    metrics['figures'] = figures
    metrics = _jsonable(metrics)
    atomic_write_bytes(out_dir / 'metrics.json',
                       json.dumps(metrics, indent=2, allow_nan=False) + '\n',
                       overwrite=overwrite)
    write_index_html(metrics, out_dir / 'index.html', overwrite=overwrite)
    return metrics


def _read_cube(item):
    """float32 (c, h, w) band images of a product file, read without validation copies."""
    from astropy.io import fits

    path, bands = item
    try:
        with fits.open(path, memmap=False) as hdul:
            return np.stack([np.asarray(hdul[b.upper()].data, dtype=np.float32)
                             for b in bands])
    except KeyError:
        msg = f'{path}: missing one of the bands {"".join(bands)!r}'
        raise ValueError(msg) from None
    except (OSError, TypeError) as exc:
        msg = f'{path}: not a readable FITS file ({exc})'
        raise ValueError(msg) from None


def _read_picture(path):
    return np.moveaxis(load_rgb(path), -1, 0).astype(np.float32) / np.float32(255.0)


def _images(sset, bands, *, progress, jobs, normalization):
    """
    (n, c, h, w) float32 normalized images of a set: band cubes, or RGB in [0, 1].

    Filled in place one image at a time, so a large training set needs its own
    size in memory only once.
    """
    from ..products import galaxy_cube
    from ..utils.parallel import parallel_map

    if bands:
        if len(sset.fits) != len(sset.files):
            msg = f'the {sset.name} folder mixes FITS and pictures'
            raise ValueError(msg)
        if sset.hduls:
            items = (galaxy_cube(h, bands) for h in sset.hduls)
        else:
            items = parallel_map(_read_cube, [(str(f), bands) for f in sset.fits], jobs=jobs,
                                 progress=progress, chunksize=64, desc=f'reading {sset.name}',
                                 unit='file')
    else:
        items = parallel_map(_read_picture, [str(f) for f in sset.files], jobs=jobs,
                             progress=progress, chunksize=64, desc=f'reading {sset.name}',
                             unit='file')
    out = None
    for i, cube in enumerate(items):
        if out is None:
            out = np.empty((len(sset.files), *cube.shape), dtype=np.float32)
        elif cube.shape != out.shape[1:]:
            msg = (f'the {sset.name} images have different shapes: {out.shape[1:]} and '
                   f'{cube.shape} ({sset.files[i]})')
            raise ValueError(msg)
        out[i] = normalize_images(cube[None], method=normalization)[0]
    return out


def _memorization(metrics, figures, rs, gs, ts, *, out_dir, border, normalization, progress,
                  overwrite, train_path, real_path, jobs):
    all_fits = all(len(s.fits) == len(s.files) for s in (rs, gs, ts))
    bands = None
    if all_fits:
        from ..products import galaxy_bands, read_galaxy

        common = rs.bands() & gs.bands() & set(galaxy_bands(read_galaxy(ts.fits[0])))
        bands = tuple(b for b in BANDS if b in common)
        if not bands:
            msg = 'the real, generated and training products have no band in common'
            raise ValueError(msg)
    norm = normalization if bands else None
    kw = dict(progress=progress, jobs=jobs, normalization=norm)
    train_img = _images(ts, bands, **kw)
    gen_img = _images(gs, bands, **kw)
    same = train_path.resolve() == real_path.resolve()
    held = None if same else _images(rs, bands, **kw)
    if gen_img.shape[1:] != train_img.shape[1:]:
        msg = (f'generated images {gen_img.shape[1:]} and training images '
               f'{train_img.shape[1:]} differ in shape')
        raise ValueError(msg)
    if held is not None and held.shape[1:] != train_img.shape[1:]:
        log.warning('real images %s differ in shape from the training images %s: '
                    'no held-out baseline', held.shape[1:], train_img.shape[1:])
        held = None
    res = memorization(gen_img, train_img, held, k=4, border=border, progress=progress)
    summary = res.to_dict()
    summary['compared'] = ('bands ' + ''.join(bands)) if bands else 'RGB pictures'
    summary['normalization'] = norm
    if held is None:
        summary['heldout_reason'] = ('the real folder is the training folder' if same else
                                     'real images of another shape')
    metrics['nn_mse_median'] = res.nn_mse_median
    metrics['memorization'] = summary
    # The most suspicious generated images: smallest nearest-neighbour MSE.
    order = np.argsort(res.generated_nn_mse, kind='stable')[:8]
    gen_pics = gs.pictures(order.tolist())
    train_pics = [ts.pictures(res.generated_nn_index[i].tolist()) for i in order]
    _plot_neighbors(gen_pics, train_pics, res.generated_knn_mse[order],
                    out_dir / 'nearest_neighbors.png', overwrite)
    figures['nearest_neighbors.png'] = ('Generated galaxies closest to the training set, '
                                        'with their 4 nearest training images (MSE)')


def _fmt(value, spec='.4g'):
    if value is None:
        return '&mdash;'
    if isinstance(value, float):
        return format(value, spec)
    return html.escape(str(value))


def write_index_html(metrics, path, *, overwrite=False):
    """
    Write the HTML page of a report.

    Parameters
    ----------
    metrics : dict
        The content of ``metrics.json``.
    path : str or path
        The ``index.html`` to write.
    overwrite : bool, optional

    Returns
    -------
    `~pathlib.Path`
    """
    rows = [
        ('FID', _fmt(metrics.get('fid')), metrics.get('fid_reason'),
         'Fréchet Inception Distance (lower is better)'),
        ('KID', _fmt(metrics.get('kid')) + (f" ± {_fmt(metrics.get('kid_std'))}"
                                            if metrics.get('kid') is not None else ''),
         metrics.get('kid_reason'), 'Kernel Inception Distance, unbiased (0 = same)'),
        ('CMD acceptance', _fmt(metrics.get('cmd_acceptance'), '.1%')
         if metrics.get('cmd_acceptance') is not None else _fmt(None),
         metrics.get('cmd_reason'), 'generated galaxies inside the real median ± kσ box'),
        ('CMD real-vs-real baseline', _fmt(metrics.get('cmd_acceptance_real_baseline'), '.1%')
         if metrics.get('cmd_acceptance_real_baseline') is not None else _fmt(None),
         metrics.get('cmd_reason'), 'what a perfect generator would reach'),
        ('CMD ratio', _fmt(metrics.get('cmd_acceptance_ratio'), '.3f'),
         metrics.get('cmd_reason'), 'acceptance / baseline (1 = as good as real)'),
        ('mean Wasserstein', _fmt(metrics.get('wasserstein_mean')),
         metrics.get('properties_reason'),
         'mean 1-D distance of standardized properties (Holzschuh+22: 0.05-0.07)'),
        ('property Fréchet', _fmt(metrics.get('property_frechet')),
         metrics.get('properties_reason'), 'Fréchet distance of standardized property vectors'),
        ('median NN MSE', _fmt(metrics.get('nn_mse_median')),
         metrics.get('memorization_reason'),
         'median MSE of generated images to their nearest training image'),
        ('n real / generated / train',
         f"{metrics.get('n_real')} / {metrics.get('n_generated')} / "
         f"{_fmt(metrics.get('n_train'))}", None, ''),
    ]
    mem = metrics.get('memorization') or {}
    if mem:
        rows.append(('held-out median NN MSE', _fmt(mem.get('heldout_nn_mse_median')),
                     mem.get('heldout_reason'), 'same for real images not used in training'))
        rows.append(('closer than any held-out', _fmt(mem.get('fraction_closer_than_heldout'),
                                                      '.1%')
                     if mem.get('fraction_closer_than_heldout') is not None else _fmt(None),
                     mem.get('heldout_reason'),
                     'generated images nearer a training image than every held-out image'))
    table = '\n'.join(
        f'<tr><th>{html.escape(name)}</th><td>{value}</td><td>{html.escape(desc)}'
        + (f'<br><em>{html.escape(str(reason))}</em>' if reason and value == _fmt(None) else '')
        + '</td></tr>'
        for name, value, reason, desc in rows)
    w = metrics.get('wasserstein') or {}
    props = metrics.get('properties') or {}
    ks = props.get('ks') or {}
    prop_rows = '\n'.join(
        f'<tr><td>{html.escape(p)}</td><td>{_fmt(v)}</td>'
        f"<td>{_fmt((ks.get(p) or {}).get('pvalue'))}</td></tr>" for p, v in w.items())
    energy = props.get('energy') or {}
    figs = '\n'.join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}">'
        f'<figcaption>{html.escape(caption)}</figcaption></figure>'
        for name, caption in (metrics.get('figures') or {}).items())
    settings = html.escape(json.dumps(metrics.get('settings', {}), indent=2))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>galsynth evaluation report</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 2em auto; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>galsynth evaluation report</h1>
<p>Real: <code>{html.escape(str(metrics.get('settings', {}).get('real')))}</code>;
generated: <code>{html.escape(str(metrics.get('settings', {}).get('generated')))}</code>;
made {html.escape(str(metrics.get('date')))}.</p>
<h2>Summary</h2>
<table>{table}</table>
<h2>Properties</h2>
<p>1-D Wasserstein distances on values standardized with the real sample, and KS p-values.
Energy test: distance {_fmt(energy.get('energy_distance'))},
p-value {_fmt(energy.get('pvalue'))}.</p>
<table><tr><th>property</th><th>Wasserstein</th><th>KS p-value</th></tr>
{prop_rows}</table>
<h2>Figures</h2>
{figs}
<h2>Settings</h2>
<pre>{settings}</pre>
</body></html>
"""
    atomic_write_bytes(path, page, overwrite=overwrite)
    return Path(path)
