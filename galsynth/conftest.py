# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
pytest configuration of the whole test suite.

Each test process runs PyTorch on one thread: under ``pytest -n 2`` two
processes already share the two cores, and more threads only make them wait
for each other.
"""

import os

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
os.environ.setdefault('MPLBACKEND', 'agg')

try:
    from pytest_astropy_header.display import PYTEST_HEADER_MODULES, TESTED_VERSIONS
except ImportError:  # pragma: no cover
    PYTEST_HEADER_MODULES, TESTED_VERSIONS = {}, {}

__all__ = []


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)
    config.option.astropy_header = True
    PYTEST_HEADER_MODULES.clear()
    PYTEST_HEADER_MODULES.update({'numpy': 'numpy', 'astropy': 'astropy', 'torch': 'torch',
                                  'photutils': 'photutils', 'galsim': 'galsim'})
    from galsynth import __version__

    TESTED_VERSIONS['galsynth'] = __version__
