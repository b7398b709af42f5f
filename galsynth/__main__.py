# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``python -m galsynth`` runs the command line."""

import sys

from .cli import main

__all__ = []

sys.exit(main())
