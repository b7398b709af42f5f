# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Small, general helpers shared by the subpackages (atomic file writes,
process-parallel maps with progress bars, seeding).
"""

from .io import atomic_write, atomic_write_bytes, check_output_dir  # noqa: F401
from .parallel import parallel_map  # noqa: F401
from .random import as_rng, item_seeds, seed_sequence  # noqa: F401

__all__ = ['atomic_write', 'atomic_write_bytes', 'check_output_dir', 'parallel_map',
           'as_rng', 'item_seeds', 'seed_sequence']
