# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Galaxy size and structure measurements.

Two kinds of measurement live here:

* fast, non-parametric **growth-curve radii** (`flux_radii`, `growth_curve`):
  the radius of the circle, or the semi-major axis of the ellipse, that holds
  a given fraction of a galaxy's total flux, from sub-pixel sampled curves of
  growth;
* the **statmorph** measurements (`statmorph_morphology`): Gini, M20, CAS
  asymmetry and a PSF-convolved single Sérsic fit (Rodriguez-Gomez et al.
  2019), run on one segment of an image and returned as a plain dict with
  statmorph's own warnings collected rather than raised.

`psf_image` draws the Moffat PSF model that the Sérsic fit is convolved
with when only the PSF's FWHM is known.
"""

import math
import warnings

import numpy as np

__all__ = [
    'DEFAULT_MOFFAT_BETA',
    'growth_curve',
    'flux_radii',
    'psf_image',
    'sersic_circular_r50',
    'psf_correction_factor',
    'statmorph_morphology',
]

#: Moffat index of the default PSF model (Trujillo et al. 2001 find 2.5-5 for
#: ground-based seeing; SDSS's PSF wings are close to beta = 3, which the
#: simulator `galsynth.simulation` uses too).
DEFAULT_MOFFAT_BETA = 3.0


def _center_distances(shape, center, ellipticity, orientation, offsets=(0.0,)):
    """Elliptical 'radius' (semi-major axis) of points at pixel + offset positions."""
    ny, nx = shape
    xc, yc = center
    q = 1.0 - ellipticity
    cos_t, sin_t = math.cos(orientation), math.sin(orientation)
    y, x = np.mgrid[0:ny, 0:nx]
    out = []
    for ox in offsets:
        for oy in offsets:
            dx = x + ox - xc
            dy = y + oy - yc
            major = dx * cos_t + dy * sin_t
            minor = -dx * sin_t + dy * cos_t
            out.append(np.hypot(major, minor / q))
    return out


def growth_curve(image, center, *, ellipticity=0.0, orientation=0.0, subsample=4,
                 subsample_radius=12.0, step=0.05):
    """
    Curve of growth: flux within circles or ellipses of increasing size.

    Pixels are treated as uniform squares, sampled on a ``subsample`` ×
    ``subsample`` sub-grid within ``subsample_radius`` of the centre (where a
    pixel is large compared to the radius) and at their centre beyond.

    Parameters
    ----------
    image : 2D array
        Background-subtracted image; pixels that must not count (other
        sources, pixels outside the galaxy's total-flux region, NaN) should
        be zero.
    center : (float, float)
        ``(x, y)`` centre in 0-based pixel coordinates.
    ellipticity : float, optional
        ``1 - b/a`` of the ellipses (0: circles).
    orientation : float, optional
        Angle of the major axis, counter-clockwise from the +x axis, in radians.
    subsample : int, optional
        Sub-pixel sampling factor near the centre.
    subsample_radius : float, optional
        Radius (pixels) within which pixels are sub-sampled.
    step : float, optional
        Radial resolution of the curve (pixels).

    Returns
    -------
    radii : `numpy.ndarray`
        Outer radii (semi-major axes for ellipses) of the bins, in pixels.
    enclosed : `numpy.ndarray`
        Flux within each radius.
    """
    image = np.where(np.isfinite(image), image, 0.0)
    if not 0.0 <= ellipticity < 1.0:
        msg = f'ellipticity must be in [0, 1); got {ellipticity}'
        raise ValueError(msg)
    nonzero_rows = np.nonzero(image.any(axis=1))[0]
    nonzero_cols = np.nonzero(image.any(axis=0))[0]
    if nonzero_rows.size:  # crop to the pixels that count
        y0, y1 = nonzero_rows[0], nonzero_rows[-1] + 1
        x0, x1 = nonzero_cols[0], nonzero_cols[-1] + 1
        image = image[y0:y1, x0:x1]
        center = (center[0] - x0, center[1] - y0)
    (r_center,) = _center_distances(image.shape, center, ellipticity, orientation)
    inner = r_center < subsample_radius + 1.0
    radii_out = [r_center[~inner]]
    weights_out = [image[~inner]]
    if subsample > 1 and inner.any():
        offsets = (np.arange(subsample) + 0.5) / subsample - 0.5
        ys, xs = np.nonzero(inner)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        sub_img = image[y0:y1, x0:x1]
        sub_inner = inner[y0:y1, x0:x1]
        shifted = (center[0] - x0, center[1] - y0)
        for r in _center_distances(sub_img.shape, shifted, ellipticity, orientation, offsets):
            radii_out.append(r[sub_inner])
            weights_out.append(sub_img[sub_inner] / subsample**2)
    else:
        radii_out.append(r_center[inner])
        weights_out.append(image[inner])
    radii = np.concatenate(radii_out)
    weights = np.concatenate(weights_out)
    nbins = int(np.ceil(radii.max() / step)) + 1 if radii.size else 1
    idx = np.minimum((radii / step).astype(int), nbins - 1)
    enclosed = np.cumsum(np.bincount(idx, weights=weights, minlength=nbins))
    edges = (np.arange(nbins) + 1) * step
    return edges, enclosed


def flux_radii(image, center, fractions, *, total=None, ellipticity=0.0, orientation=0.0,
               **kwargs):
    """
    Radii (or semi-major axes) enclosing given fractions of the total flux.

    Parameters
    ----------
    image : 2D array
        Background-subtracted image with everything that is not the galaxy set
        to zero (see `growth_curve`).
    center : (float, float)
        ``(x, y)`` centre, 0-based pixels.
    fractions : float or sequence of float
        Fractions of the total flux, in (0, 1).
    total : float, optional
        The total flux (default: the sum of ``image``).
    ellipticity, orientation : float, optional
        Ellipse shape (see `growth_curve`).
    **kwargs
        Passed to `growth_curve`.

    Returns
    -------
    `numpy.ndarray`
        One radius per fraction, in pixels: the first crossing of the curve of
        growth, linearly interpolated between its samples; NaN when the total
        is not positive or never reached.
    """
    fractions = np.atleast_1d(np.asarray(fractions, dtype=float))
    radii, enclosed = growth_curve(image, center, ellipticity=ellipticity,
                                   orientation=orientation, **kwargs)
    if total is None:
        total = enclosed[-1]
    out = np.full(fractions.shape, np.nan)
    if not (np.isfinite(total) and total > 0):
        return out
    r = np.concatenate([[0.0], radii])
    f = np.concatenate([[0.0], enclosed])
    for i, frac in enumerate(fractions):
        target = frac * total
        above = np.nonzero(f >= target)[0]
        if above.size == 0:
            continue
        j = above[0]
        if j == 0:
            out[i] = 0.0
            continue
        f0, f1 = f[j - 1], f[j]
        w = (target - f0) / (f1 - f0) if f1 > f0 else 1.0
        out[i] = r[j - 1] + w * (r[j] - r[j - 1])
    return out


def psf_image(fwhm, *, beta=DEFAULT_MOFFAT_BETA, size=None, oversample=5):
    """
    A normalized, pixel-integrated circular Moffat PSF image.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum, in pixels.
    beta : float, optional
        Moffat index.
    size : int, optional
        Odd side length (default: about 4 FWHM, at least 11 pixels).
    oversample : int, optional
        Sub-pixel sampling used to integrate over each pixel.

    Returns
    -------
    `numpy.ndarray`
        ``(size, size)`` array summing to 1, centred on the central pixel.
    """
    if not (np.isfinite(fwhm) and fwhm > 0):
        msg = f'PSF FWHM must be a positive number of pixels; got {fwhm}'
        raise ValueError(msg)
    if size is None:
        size = max(11, 2 * int(math.ceil(2.0 * fwhm)) + 1)
    size = int(size) | 1
    alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    n = size * oversample
    coords = (np.arange(n) + 0.5) / oversample - size / 2.0
    r2 = coords[None, :] ** 2 + coords[:, None] ** 2
    fine = (1.0 + r2 / alpha**2) ** (-beta)
    psf = fine.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    return psf / psf.sum()


def sersic_circular_r50(r_eff, n, ellipticity):
    """
    Radius of the circle holding half the light of an elliptical Sérsic profile.

    The profile is `astropy.modeling.models.Sersic2D`'s: surface brightness a
    function of the elliptical radius with semi-major axis ``r_eff``, axis ratio
    ``q = 1 - ellipticity``. The light within a circle of radius ``R`` is

    .. math::

        F(R) / F = \\frac{1}{2 \\pi q} \\int_0^{2\\pi}
            \\frac{P(2n, b_n (R g(\\phi) / r_{\\rm eff})^{1/n})}{g(\\phi)^2}\\, d\\phi,
        \\quad g(\\phi) = \\sqrt{\\cos^2\\phi + \\sin^2\\phi / q^2},

    with ``P`` the regularized lower incomplete gamma function; ``F(R) = F/2``
    is solved numerically. For ``q = 1`` this is ``r_eff``.

    Parameters
    ----------
    r_eff : float
        Half-light semi-major axis (any unit; the result has the same).
    n : float
        Sérsic index (> 0).
    ellipticity : float
        ``1 - b/a``, in [0, 1).

    Returns
    -------
    float
        The circular half-light radius (NaN for invalid input).
    """
    from scipy import optimize, special

    if not (np.isfinite(r_eff) and r_eff > 0 and np.isfinite(n) and n > 0
            and np.isfinite(ellipticity) and 0 <= ellipticity < 1):
        return math.nan
    q = 1.0 - ellipticity
    if q >= 1.0 - 1e-12:
        return float(r_eff)
    b_n = special.gammaincinv(2.0 * n, 0.5)
    phi = (np.arange(720) + 0.5) * (2.0 * math.pi / 720)
    g = np.sqrt(np.cos(phi) ** 2 + np.sin(phi) ** 2 / q**2)

    def fraction(radius):  # in units of r_eff
        p = special.gammainc(2.0 * n, b_n * (radius * g) ** (1.0 / n))
        return float(np.mean(p / g**2) / q) - 0.5

    # F(q r_eff) <= 1/2 <= F(r_eff): the circle lies between the ellipse's axes.
    return float(optimize.brentq(fraction, q * (1 - 1e-9), 1.0 + 1e-9, xtol=1e-10)) * r_eff


def psf_correction_factor(r_eff, n, ellipticity, theta, *, psf, center, region,
                          subsample=3):
    """
    How much a PSF enlarges the circular half-light radius of a Sérsic model.

    The model (`astropy.modeling.models.Sersic2D` parameters, pixels) is drawn
    with ``subsample``-fold sub-pixel sampling at ``center``, once as it is and
    once convolved with ``psf``; both are restricted to ``region`` (the pixels
    over which the galaxy's total flux was measured) and their circular
    half-light radii (`flux_radii`) compared. Multiplying a galaxy's observed
    radius by this ratio corrects it for the PSF; as a ratio of two radii of
    the same model it is much less sensitive to a poor fit than the model's
    own radius.

    Parameters
    ----------
    r_eff, n, ellipticity, theta : float
        Sérsic half-light semi-major axis (pixels), index, ``1 - b/a`` and
        angle of the major axis (radians, counter-clockwise from +x).
    psf : 2D array
        PSF image (odd size, centred, any normalization).
    center : (float, float)
        ``(x, y)`` of the galaxy, 0-based pixels.
    region : 2D bool array
        The galaxy's pixels; its shape is the image's.
    subsample : int, optional
        Sub-pixel sampling of the model.

    Returns
    -------
    float
        ``r50(model) / r50(model * PSF)`` (<= 1), NaN when undefined.
    """
    from astropy.modeling.models import Sersic2D
    from scipy.signal import fftconvolve

    values = (r_eff, n, ellipticity, theta)
    if not (np.all(np.isfinite(values)) and r_eff > 0 and n > 0 and 0 <= ellipticity < 1):
        return math.nan
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return math.nan
    half = psf.shape[0] // 2
    ny, nx = region.shape
    y0, y1 = max(ys.min() - half, 0), min(ys.max() + half + 1, ny)
    x0, x1 = max(xs.min() - half, 0), min(xs.max() + half + 1, nx)
    cx, cy = center[0] - x0, center[1] - y0
    model = Sersic2D(amplitude=1.0, r_eff=r_eff, n=n, x_0=cx, y_0=cy, ellip=ellipticity,
                     theta=theta)
    y, x = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(float)
    offsets = (np.arange(subsample) + 0.5) / subsample - 0.5
    image = np.zeros_like(x)
    for ox in offsets:
        for oy in offsets:
            image += model(x + ox, y + oy)
    convolved = fftconvolve(image, psf / psf.sum(), mode='same')
    cut = region[y0:y1, x0:x1]
    (r_model,) = flux_radii(np.where(cut, image, 0.0), (cx, cy), 0.5)
    (r_conv,) = flux_radii(np.where(cut, convolved, 0.0), (cx, cy), 0.5)
    if not (np.isfinite(r_model) and np.isfinite(r_conv) and r_conv > 0):
        return math.nan
    return float(r_model / r_conv)


#: statmorph quantities returned by `statmorph_morphology` (statmorph attribute names).
_STATMORPH_KEYS = ('gini', 'm20', 'asymmetry', 'concentration', 'smoothness', 'sersic_n',
                   'sersic_rhalf', 'sersic_ellip', 'sersic_theta', 'rhalf_circ', 'rhalf_ellip')


def statmorph_morphology(image, segmap, label, *, weightmap, mask=None, psf=None,
                         sersic_n_bounds=(0.2, 6.0)):
    """
    Run statmorph on one source and collect its measurements.

    Parameters
    ----------
    image : 2D array
        Background-subtracted image.
    segmap : 2D int array
        Segmentation image; other labels are masked by statmorph.
    label : int
        The source's label.
    weightmap : 2D array
        1-sigma uncertainty of each pixel.
    mask : 2D bool array, optional
        Pixels to ignore.
    psf : 2D array, optional
        PSF image for the Sérsic fit (without it the fit is not PSF-aware).
    sersic_n_bounds : (float, float), optional
        Bounds of the fitted Sérsic index.

    Returns
    -------
    result : dict
        ``gini``, ``m20``, ``asymmetry`` (CAS, Conselice 2000, rotation
        about the point that minimizes it), ``concentration`` (statmorph's
        ``5 log10(r80/r20)``), ``smoothness``, ``sersic_n``, ``sersic_rhalf``
        (pixels, semi-major axis), ``sersic_ellip``, ``sersic_theta``
        (radians), ``rhalf_circ``, ``rhalf_ellip`` (pixels), ``flag``
        (statmorph's 0 good, 1 suspect, 2 bad, 4 failed) and
        ``flag_sersic``; NaN for what could not be measured.
    messages : list of str
        statmorph's warnings, as text.
    """
    import statmorph

    result = dict.fromkeys(_STATMORPH_KEYS, np.nan)
    result['flag'] = 4
    result['flag_sersic'] = 4
    image = np.where(np.isfinite(image), image, 0.0)
    weightmap = np.where(np.isfinite(weightmap) & (weightmap > 0), weightmap, 0.0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
    model_args = {'bounds': {'n': tuple(sersic_n_bounds)}}
    messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            morph = statmorph.SourceMorphology(
                image, segmap, label, mask=mask, weightmap=weightmap, psf=psf,
                sersic_model_args=model_args)
        except Exception as exc:  # statmorph fails in many data-dependent ways
            messages.append(f'statmorph failed: {type(exc).__name__}: {exc}')
            morph = None
    messages.extend(str(w.message) for w in caught)
    if morph is None:
        return result, messages
    for key in _STATMORPH_KEYS:
        value = float(getattr(morph, key, np.nan))
        result[key] = np.nan if value == -99.0 else value
    result['flag'] = int(morph.flag)
    result['flag_sersic'] = int(morph.flag_sersic)
    return result, messages
