# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
StyleGAN networks, losses, augmentation and training (internal subpackage).

The networks are in `galsynth.stylegan.networks` (built from a
`galsynth.stylegan.configs.NetworkConfig`), their building blocks in
`galsynth.stylegan.layers`, the losses in `galsynth.stylegan.losses` and the
adaptive discriminator augmentation in `galsynth.stylegan.augment`.
"""

from .configs import CONFIGS, NetworkConfig, TrainingDefaults, get_config
from .networks import (
    Discriminator,
    Generator,
    build_networks,
    freeze_discriminator,
    freeze_generator,
    style_mix,
)

__all__ = [
    'CONFIGS',
    'NetworkConfig',
    'TrainingDefaults',
    'get_config',
    'Generator',
    'Discriminator',
    'build_networks',
    'style_mix',
    'freeze_generator',
    'freeze_discriminator',
]
