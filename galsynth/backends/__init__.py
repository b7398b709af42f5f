# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The built-in generator backends (``parametric``: the GalSim simulator;
``stylegan``: trained StyleGAN models). They register through the
``galsynth.generators`` entry-point group like any plugin.
"""

__all__ = []
