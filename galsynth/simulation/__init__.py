# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The physical galaxy simulator (GalSim), galsynth's ``parametric`` generator.

* `galsynth.simulation.population`: *which* galaxies -- a flux-limited,
  literature-based population of bulge + disk galaxies (`draw_population`);
* `galsynth.simulation.sed`: their colours -- CWW template SEDs redshifted
  through the SDSS filters (K-corrections);
* `galsynth.simulation.render`: *how they look* -- GalSim rendering with an
  SDSS-like PSF, neighbours and noise into galaxy products
  (`render_galaxy`);
* `galsynth.simulation.batch`: many galaxies, in memory (`simulate`) or into
  a folder with a catalogue (`simulate_to_dir`, ``galsynth simulate``).

Examples
--------
>>> from galsynth.simulation import draw_population, render_galaxy
>>> galaxies = draw_population(2, seed=42)
>>> hdul = render_galaxy(galaxies[0], size=48, bands='gri')
>>> [h.name for h in hdul]
['PRIMARY', 'G', 'R', 'I', 'IVAR_G', 'IVAR_R', 'IVAR_I', 'TRUTH']
"""

from .batch import (
    CATALOG_NAME,
    SIMULATION_MODEL,
    galaxy_filename,
    iter_simulate,
    simulate,
    simulate_to_dir,
)
from .population import (
    PRESETS,
    bimodality,
    component_fluxes,
    draw_galaxy,
    draw_population,
    half_light_radius,
)
from .render import (
    SDSS_CONDITIONS,
    SEEING,
    TRUTH_COLUMNS,
    add_noise,
    complete_params,
    point_source_depth,
    render_galaxy,
    render_images,
)
from .sed import TEMPLATES, kcorrection, mixed_sed, rest_frame_colour

__all__ = [
    'CATALOG_NAME',
    'PRESETS',
    'SDSS_CONDITIONS',
    'SEEING',
    'SIMULATION_MODEL',
    'TEMPLATES',
    'TRUTH_COLUMNS',
    'add_noise',
    'bimodality',
    'complete_params',
    'component_fluxes',
    'draw_galaxy',
    'draw_population',
    'galaxy_filename',
    'half_light_radius',
    'iter_simulate',
    'kcorrection',
    'mixed_sed',
    'point_source_depth',
    'render_galaxy',
    'render_images',
    'rest_frame_colour',
    'simulate',
    'simulate_to_dir',
]
