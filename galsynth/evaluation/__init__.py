# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Evaluation of generated galaxies against real ones.

* `galsynth.evaluation.fid`: FID and KID with the standard Inception-v3
  weights (optional extra ``galsynth[fid]``): ``fid.fid(real, generated)``,
  ``fid.kid(real, generated)``;
* `galsynth.evaluation.rgb`: the fixed RGB conversion of FITS products;
* `~galsynth.evaluation.distances`: distances and two-sample tests between
  physical-property distributions;
* `~galsynth.evaluation.cmd`: colour-magnitude-diagram acceptance with its
  real-vs-real baseline;
* `~galsynth.evaluation.memorization`: nearest training images;
* `~galsynth.evaluation.report`: `evaluate`, which runs everything on two
  folders and writes ``metrics.json``, figures and ``index.html``.
"""

from .cmd import (  # noqa: F401
    DEFAULT_K,
    CMDBox,
    CMDResult,
    cmd_acceptance,
    cmd_box,
    cmd_points,
    fraction_inside,
    generated_redshifts,
    plot_cmd,
    real_baseline,
)
from .distances import (  # noqa: F401
    energy_test,
    frechet_distance,
    ks_tests,
    property_distances,
    property_frechet_distance,
    standardized_properties,
    wasserstein_distances,
)

# The functions fid.fid and fid.kid are not re-exported: the name ``fid`` stays the
# module (``from galsynth.evaluation import fid; fid.fid(real, generated)``).
from .fid import (  # noqa: F401
    FIDDependencyError,
    dataset_features,
    feature_statistics,
    fid_from_features,
    inception_features,
    kid_from_features,
    load_inception,
)
from .memorization import (  # noqa: F401
    MemorizationResult,
    memorization,
    nearest_neighbors,
    normalize_images,
)
from .report import evaluate  # noqa: F401
from .rgb import load_rgb, product_to_rgb  # noqa: F401

__all__ = [
    'DEFAULT_K', 'CMDBox', 'CMDResult', 'cmd_acceptance', 'cmd_box', 'cmd_points',
    'fraction_inside', 'generated_redshifts', 'plot_cmd', 'real_baseline',
    'energy_test', 'frechet_distance', 'ks_tests', 'property_distances',
    'property_frechet_distance', 'standardized_properties', 'wasserstein_distances',
    'FIDDependencyError', 'dataset_features', 'feature_statistics', 'fid_from_features',
    'inception_features', 'kid_from_features', 'load_inception',
    'MemorizationResult', 'memorization', 'nearest_neighbors', 'normalize_images',
    'evaluate', 'load_rgb', 'product_to_rgb',
]
