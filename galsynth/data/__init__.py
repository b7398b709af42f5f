# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Real and simulated galaxies as training data.

The path from the survey to a training set:

* `galsynth.data.sdss`: query SDSS for galaxies and download their frames
  (astroquery);
* `galsynth.data.frames`: SDSS frames -> noise model, band alignment,
  galaxy detection and selection, stamps written as galaxy products;
* `galsynth.data.normalization`: invertible nanomaggy <-> network-space
  normalizations (min-max, asinh) stored with the model;
* `galsynth.data.augment`: rotations (45° steps, constant or reflect fill),
  flips, and the exact dihedral transforms;
* `galsynth.data.datasets`: torch datasets over folders of FITS products and
  of JPG/PNG images, with a cache of the pre-processed images.

The names below are imported from those modules on first use (so that
``import galsynth.data`` loads neither torch nor astroquery).
"""

import importlib

__all__ = [
    'query_galaxies', 'download_frames',
    'read_frame', 'read_field', 'find_fields', 'find_galaxies', 'GalaxySelection',
    'extract_field', 'extract_frames_dir', 'measure_alignment',
    'Normalization',
    'Augment', 'rotate', 'rot90', 'flip', 'dihedral',
    'GalaxyFITSDataset', 'ImageFolderDataset',
]

_HOME = {
    'query_galaxies': 'sdss', 'download_frames': 'sdss',
    'read_frame': 'frames', 'read_field': 'frames', 'find_fields': 'frames',
    'find_galaxies': 'frames', 'GalaxySelection': 'frames', 'extract_field': 'frames',
    'extract_frames_dir': 'frames', 'measure_alignment': 'frames',
    'Normalization': 'normalization',
    'Augment': 'augment', 'rotate': 'augment', 'rot90': 'augment', 'flip': 'augment',
    'dihedral': 'augment',
    'GalaxyFITSDataset': 'datasets', 'ImageFolderDataset': 'datasets',
}


def __getattr__(name):
    if name in _HOME:
        module = importlib.import_module(f'.{_HOME[name]}', __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(__all__))
