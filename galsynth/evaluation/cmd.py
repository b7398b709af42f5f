# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Colour-magnitude-diagram (CMD) acceptance.

The method judges generated galaxies by where they fall in the
colour-magnitude diagram of the real sample: absolute magnitude M_r against
the colour g - r. A generated galaxy is *accepted* when it lies inside the
box ``median ± k σ`` of the real sample on both axes (k = 1.75), the median
and the standard deviation (``ddof=1``) taken over the real galaxies with
finite values.

Real galaxies themselves fall outside that box: for Gaussian data ±1.75σ
holds 92.0% of a sample per axis and 0.920² ≈ 84.6% in the 2-D box of two
independent axes. An acceptance is only meaningful next to the
**real-vs-real baseline** computed here by `real_baseline`: the real sample
is split at random into halves A and B, the box is built from A and the
fraction of B inside it is measured; the mean over many seeded splits is the
acceptance a perfect generator would reach. `cmd_acceptance` reports both and
their ratio.

Absolute magnitudes are ``M = m - DM(z)`` with the distance modulus of the
Planck 2018 cosmology (`galsynth.physics.absolute_magnitude`) and, by
default, no K-correction, as in the method (``kcorrection='template'`` uses
the colour-chosen CWW-template K-correction of `galsynth.physics`).
Generated galaxies have no redshift: they are given the real sample's median
redshift (the method's choice), a fixed value, or
values drawn from a given distribution.
"""

import dataclasses
import logging
import math
from pathlib import Path

import astropy.units as u
import numpy as np

from ..utils.random import as_rng

__all__ = [
    'DEFAULT_K',
    'CMDBox',
    'CMDResult',
    'absolute_magnitude',
    'cmd_points',
    'cmd_box',
    'fraction_inside',
    'real_baseline',
    'generated_redshifts',
    'cmd_acceptance',
    'plot_cmd',
]

log = logging.getLogger(__name__)

#: Half-width of the acceptance box in standard deviations (the method's 1.75).
DEFAULT_K = 1.75


def absolute_magnitude(mag, redshift, *, kcorrection=None, color=None):
    """
    Absolute magnitude ``m - DM(z) [- K]`` (`galsynth.physics.absolute_magnitude`).

    Parameters
    ----------
    mag : float or array-like
        Apparent r-band AB magnitudes (plain numbers or ``u.mag`` Quantity).
    redshift : float or array-like
        Redshifts (> 0), broadcast against ``mag``; NaN gives NaN.
    kcorrection : None or 'template', optional
        `None` (default, the method's choice): no K-correction;
        ``'template'``: the CWW-template K-correction chosen by the observed
        ``g - r`` colour (``color``).
    color : array-like, optional
        Observed ``g - r`` for ``kcorrection='template'``.

    Returns
    -------
    `numpy.ndarray`
        Absolute magnitudes (float64, no unit); NaN where an input is NaN.

    Raises
    ------
    ValueError
        For a finite redshift <= 0.
    """
    from ..physics import absolute_magnitude as _physics_absmag

    m = np.asarray(u.Quantity(mag, u.mag).value if isinstance(mag, u.Quantity) else mag,
                   dtype=np.float64)
    z = np.asarray(redshift, dtype=np.float64)
    if np.any(np.isfinite(z) & (z <= 0)):
        msg = f'redshifts must be > 0; got min {np.nanmin(z)}'
        raise ValueError(msg)
    if kcorrection is not None and color is None:
        msg = "kcorrection='template' needs the observed g - r colour"
        raise ValueError(msg)
    c = np.asarray(color if color is not None else np.zeros(1), dtype=np.float64)
    m, z, c = np.broadcast_arrays(m, z, c)
    out = np.full(m.shape, np.nan)
    good = np.isfinite(m) & np.isfinite(z)
    if kcorrection is not None:
        good &= np.isfinite(c)
    if good.any():
        kw = {} if kcorrection is None else dict(kcorrection=kcorrection, band='r',
                                                 color=c[good], color_bands=('g', 'r'))
        out[good] = np.asarray(_physics_absmag(m[good], z[good], **kw), dtype=np.float64)
    return out


def _values(table, name):
    col = table[name]
    if isinstance(col, u.Quantity):
        values = col.value
        if hasattr(values, 'filled'):
            values = values.filled(np.nan)
        return np.asarray(values, dtype=np.float64)
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=np.float64), np.nan))


def cmd_points(table, *, redshift=None, kcorrection=None):
    """
    Absolute magnitude M_r and colour g - r of every galaxy of a table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Photometry table with ``mag_r`` and either ``color_g_r`` or ``mag_g``.
    redshift : float or array-like, optional
        Redshift of every galaxy (scalar or one per row); default the
        table's ``redshift`` column (values <= 0 are treated as unknown).

    Returns
    -------
    points : `numpy.ndarray`, shape ``(n, 2)``
        Columns ``(M_r, g - r)``; NaN where unknown.

    Raises
    ------
    ValueError
        For missing columns or a wrong number of redshifts.
    """
    if 'mag_r' not in table.colnames:
        msg = 'the photometry table has no mag_r column'
        raise ValueError(msg)
    mag_r = _values(table, 'mag_r')
    if 'color_g_r' in table.colnames:
        color = _values(table, 'color_g_r')
    elif 'mag_g' in table.colnames:
        color = _values(table, 'mag_g') - mag_r
    else:
        msg = 'the photometry table has neither color_g_r nor mag_g'
        raise ValueError(msg)
    if redshift is None:
        if 'redshift' not in table.colnames:
            msg = 'no redshift given and the table has no redshift column'
            raise ValueError(msg)
        z = _values(table, 'redshift')
        z = np.where(z > 0, z, np.nan)
    else:
        z = np.asarray(redshift, dtype=np.float64)
        if z.ndim > 0 and z.shape != mag_r.shape:
            msg = f'got {z.size} redshifts for {len(mag_r)} galaxies'
            raise ValueError(msg)
    return np.column_stack([absolute_magnitude(mag_r, z, kcorrection=kcorrection, color=color),
                            color])


@dataclasses.dataclass(frozen=True)
class CMDBox:
    """The acceptance box ``center ± half_width`` in (M_r, g - r)."""

    #: Median (M_r, g - r) of the reference sample.
    center: tuple
    #: k times the standard deviation (ddof=1) on each axis.
    half_width: tuple
    #: The k used.
    k: float

    def contains(self, points):
        """
        Boolean mask of the points inside the box (edges included).

        Parameters
        ----------
        points : array-like, shape ``(n, 2)``

        Returns
        -------
        `numpy.ndarray` of bool
            False for non-finite points.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        c = np.asarray(self.center)
        h = np.asarray(self.half_width)
        with np.errstate(invalid='ignore'):
            inside = np.abs(p - c) <= h
        return np.all(inside & np.isfinite(p), axis=1)


def cmd_box(points, *, k=DEFAULT_K):
    """
    The box ``median ± k σ`` of a sample, per axis.

    Parameters
    ----------
    points : array-like, shape ``(n, 2)``
        (M_r, g - r); rows with a non-finite value are ignored.
    k : float, optional
        Half-width in standard deviations (``ddof=1``).

    Returns
    -------
    `CMDBox`

    Raises
    ------
    ValueError
        With fewer than 2 finite rows.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) < 2:
        msg = f'the CMD box needs at least 2 galaxies with finite M_r and g-r; got {len(p)}'
        raise ValueError(msg)
    if not k > 0:
        msg = f'k must be > 0; got {k}'
        raise ValueError(msg)
    center = np.median(p, axis=0)
    half = k * p.std(axis=0, ddof=1)
    return CMDBox(center=tuple(map(float, center)), half_width=tuple(map(float, half)),
                  k=float(k))


def fraction_inside(box, points):
    """
    Fraction of the points inside a box; non-finite points count as outside.

    Parameters
    ----------
    box : `CMDBox`
    points : array-like, shape ``(n, 2)``

    Returns
    -------
    float
    """
    mask = box.contains(points)
    if mask.size == 0:
        msg = 'no galaxies to test against the CMD box'
        raise ValueError(msg)
    return float(mask.mean())


def real_baseline(points, *, k=DEFAULT_K, n_splits=200, seed=0):
    """
    Real-vs-real CMD acceptance from random halves of the real sample.

    For each split the rows are shuffled and cut into halves A (the first
    ``n // 2``) and B; the box is built from A and the fraction of B inside
    it is measured (non-finite rows of B count as outside).

    Parameters
    ----------
    points : array-like, shape ``(n, 2)``
        (M_r, g - r) of the real galaxies.
    k : float, optional
        Box half-width in standard deviations.
    n_splits : int, optional
        Number of random splits.
    seed : int or `numpy.random.Generator`, optional
        Seed of the splits.

    Returns
    -------
    mean, std : float
        Mean and standard deviation of the fractions over the splits.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 4:
        msg = f'the real-vs-real baseline needs at least 4 real galaxies; got {len(p)}'
        raise ValueError(msg)
    rng = as_rng(seed)
    half = len(p) // 2
    fractions = np.empty(n_splits)
    for s in range(n_splits):
        order = rng.permutation(len(p))
        fractions[s] = fraction_inside(cmd_box(p[order[:half]], k=k), p[order[half:]])
    return float(fractions.mean()), float(fractions.std(ddof=1) if n_splits > 1 else 0.0)


def generated_redshifts(spec, n, *, real_redshifts=None, seed=0):
    """
    Redshifts to assign to generated galaxies.

    Parameters
    ----------
    spec : 'median', float, array-like or distribution
        ``'median'``: the median of ``real_redshifts`` for every galaxy (the
        method's choice); a float: that value; an array of length ``n``:
        used as given; an array of another length: an empirical
        distribution, drawn from with replacement; an object with an
        ``rvs(size=, random_state=)`` method (a frozen `scipy.stats`
        distribution): ``n`` draws from it.
    n : int
        Number of generated galaxies.
    real_redshifts : array-like, optional
        Redshifts of the real galaxies (needed for ``'median'``).
    seed : int or `numpy.random.Generator`, optional
        Seed of the draws.

    Returns
    -------
    z : `numpy.ndarray`, shape ``(n,)``
    description : str
        How the redshifts were chosen, for reports.
    """
    rng = as_rng(seed)
    if isinstance(spec, str):
        if spec != 'median':
            msg = ("redshift spec must be 'median', a number, values or a distribution; "
                   f'got {spec!r}')
            raise ValueError(msg)
        zr = np.asarray(real_redshifts if real_redshifts is not None else [], dtype=float)
        zr = zr[np.isfinite(zr) & (zr > 0)]
        if zr.size == 0:
            msg = "redshift 'median' needs real galaxies with known redshifts"
            raise ValueError(msg)
        zmed = float(np.median(zr))
        return np.full(n, zmed), f'median redshift of the real sample, z = {zmed:.5g}'
    if hasattr(spec, 'rvs'):
        z = np.asarray(spec.rvs(size=n, random_state=rng), dtype=float).reshape(n)
        return z, f'{n} draws from {spec!r} (seeded)'
    z = np.asarray(spec, dtype=float)
    if z.ndim == 0:
        return np.full(n, float(z)), f'fixed redshift z = {float(z):.5g}'
    z = z.ravel()
    if z.size == n:
        return z.copy(), f'{n} given redshifts'
    if z.size == 0:
        msg = 'empty redshift distribution'
        raise ValueError(msg)
    return rng.choice(z, n, replace=True), \
        f'{n} draws with replacement from {z.size} given redshifts (seeded)'


@dataclasses.dataclass(frozen=True)
class CMDResult:
    """Outcome of `cmd_acceptance`."""

    #: Fraction of generated galaxies inside the real box.
    acceptance: float
    #: Mean real-vs-real acceptance over random halves.
    real_baseline: float
    #: Standard deviation of the real-vs-real acceptance over the splits.
    real_baseline_std: float
    #: acceptance / real_baseline.
    ratio: float
    #: The box from the whole real sample.
    box: CMDBox
    #: Generated galaxies inside the box.
    n_inside: int
    #: Generated galaxies tested (non-finite ones count as outside).
    n_generated: int
    #: Real galaxies with finite M_r and g - r (those that define the box).
    n_real: int
    #: Generated galaxies with a non-finite M_r or g - r.
    n_generated_nonfinite: int
    #: How the generated galaxies' redshifts were chosen.
    redshift_description: str
    #: (M_r, g - r) of the real galaxies.
    real_points: np.ndarray = dataclasses.field(repr=False)
    #: (M_r, g - r) of the generated galaxies.
    generated_points: np.ndarray = dataclasses.field(repr=False)

    def to_dict(self):
        """JSON-ready summary (without the points)."""
        return {
            'acceptance': self.acceptance,
            'real_baseline': self.real_baseline,
            'real_baseline_std': self.real_baseline_std,
            'ratio': self.ratio,
            'k': self.box.k,
            'box_center': {'M_r': self.box.center[0], 'g_r': self.box.center[1]},
            'box_half_width': {'M_r': self.box.half_width[0], 'g_r': self.box.half_width[1]},
            'n_inside': self.n_inside,
            'n_generated': self.n_generated,
            'n_real': self.n_real,
            'n_generated_nonfinite': self.n_generated_nonfinite,
            'generated_redshift': self.redshift_description,
        }


def cmd_acceptance(real, generated, *, real_redshift=None, generated_redshift='median',
                   k=DEFAULT_K, n_splits=200, seed=0, kcorrection=None):
    """
    CMD acceptance of generated galaxies, with the real-vs-real baseline.

    Parameters
    ----------
    real, generated : `~astropy.table.Table`
        Photometry tables (``mag_r`` and ``color_g_r`` or ``mag_g``).
    real_redshift : float or array-like, optional
        Redshifts of the real galaxies; default the real table's
        ``redshift`` column.
    generated_redshift : 'median', float, array-like or distribution, optional
        See `generated_redshifts`; default the real sample's median.
    k : float, optional
        Box half-width in standard deviations.
    n_splits : int, optional
        Random halves for the baseline.
    seed : int, optional
        Seed of the splits and of redshift draws.
    kcorrection : None or 'template', optional
        K-correction of M_r (see `absolute_magnitude`); default none, as in
        the method.

    Returns
    -------
    `CMDResult`
    """
    rng = as_rng(seed)
    real_points = cmd_points(real, redshift=real_redshift, kcorrection=kcorrection)
    if real_redshift is None:
        zr = _values(real, 'redshift')
    else:
        zr = np.broadcast_to(np.asarray(real_redshift, dtype=float), (len(real),))
    zg, description = generated_redshifts(generated_redshift, len(generated), real_redshifts=zr,
                                          seed=rng)
    gen_points = cmd_points(generated, redshift=zg, kcorrection=kcorrection)
    box = cmd_box(real_points, k=k)
    inside = box.contains(gen_points)
    if inside.size == 0:
        msg = 'no generated galaxies'
        raise ValueError(msg)
    acceptance = float(inside.mean())
    finite_real = real_points[np.all(np.isfinite(real_points), axis=1)]
    base, base_std = real_baseline(finite_real, k=k, n_splits=n_splits, seed=rng)
    return CMDResult(
        acceptance=acceptance, real_baseline=base, real_baseline_std=base_std,
        ratio=acceptance / base if base > 0 else math.nan, box=box,
        n_inside=int(inside.sum()), n_generated=int(inside.size), n_real=len(finite_real),
        n_generated_nonfinite=int((~np.all(np.isfinite(gen_points), axis=1)).sum()),
        redshift_description=description, real_points=real_points,
        generated_points=gen_points)


def plot_cmd(result, path=None, *, overwrite=False, title=None):
    """
    The CMD figure: real, generated, and both with the acceptance box.

    Parameters
    ----------
    result : `CMDResult`
    path : str or path, optional
        PNG file to write (atomically); if `None` the figure is returned only.
    overwrite : bool, optional
        Replace an existing file.
    title : str, optional
        Figure title.

    Returns
    -------
    `matplotlib.figure.Figure`
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    real = result.real_points[np.all(np.isfinite(result.real_points), axis=1)]
    gen = result.generated_points[np.all(np.isfinite(result.generated_points), axis=1)]
    both = np.concatenate([real, gen]) if len(gen) else real
    lo, hi = both.min(axis=0), both.max(axis=0)
    c, h = np.asarray(result.box.center), np.asarray(result.box.half_width)
    lo = np.minimum(lo, c - h)
    hi = np.maximum(hi, c + h)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    fig = Figure(figsize=(12, 4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.85 if title else 0.9,
                        wspace=0.08)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    size = max(2.0, 20.0 / math.sqrt(max(len(both), 1) / 100.0))
    axes[0].scatter(real[:, 0], real[:, 1], s=size, c='tab:blue', alpha=0.6, lw=0)
    axes[0].set_title(f'real (n = {len(real)})')
    axes[1].scatter(gen[:, 0], gen[:, 1], s=size, c='tab:orange', alpha=0.6, lw=0)
    axes[1].set_title(f'generated (n = {len(gen)})')
    axes[2].scatter(real[:, 0], real[:, 1], s=size, c='tab:blue', alpha=0.5, lw=0, label='real')
    axes[2].scatter(gen[:, 0], gen[:, 1], s=size, c='tab:orange', alpha=0.5, lw=0,
                    label='generated')
    axes[2].add_patch(Rectangle(c - h, 2 * h[0], 2 * h[1], fill=False, ec='k', lw=1.5,
                                label=f'median ± {result.box.k:g}σ (real)'))
    axes[2].set_title(f'accepted {result.acceptance:.1%} (real-vs-real '
                      f'{result.real_baseline:.1%})')
    axes[2].legend(loc='best', fontsize='small')
    for ax in axes:
        ax.set_xlim(hi[0] + pad[0], lo[0] - pad[0])  # bright to the right
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_xlabel('$M_r$ [mag]')
    axes[0].set_ylabel('$g - r$ [mag]')
    if title:
        fig.suptitle(title)
    if path is not None:
        from ..utils.io import atomic_write

        with atomic_write(Path(path), overwrite=overwrite) as fh:
            fig.savefig(fh, format='png', dpi=100)
    return fig
