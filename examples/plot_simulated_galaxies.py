# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated galaxies
==================

Draw 16 galaxies from the SDSS-like population of the parametric simulator
(`galsynth.simulation`), render them at 3 x 88 x 88 pixels (g, r, i; SDSS
PSF, neighbours and noise) and save a Lupton RGB grid (i, r, g as red, green,
blue) to ``docs/_static/simulated_galaxies.png``. The first row shows the
default ``'sdss'`` preset (SDSS main-sample galaxies, r < 17.77), the second
the ``'training'`` preset (nearby galaxies that fill the stamp).

Run from the repository root::

    python examples/plot_simulated_galaxies.py
"""

from pathlib import Path

from galsynth.simulation import simulate
from galsynth.visualization import save_rgb_grid

OUTPUT = Path(__file__).resolve().parents[1] / 'docs' / '_static' / 'simulated_galaxies.png'


def main(output=OUTPUT):
    sdss = simulate(8, seed=2024, size=88, bands='gri')
    training = simulate(8, seed=2024, size=88, bands='gri', preset='training')
    path = save_rgb_grid(sdss + training, output, ncols=8, overwrite=True)
    print(f'wrote {path}')
    return path


if __name__ == '__main__':
    main()
