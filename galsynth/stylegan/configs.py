# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Configurations of the StyleGAN networks and named presets.

`NetworkConfig` describes the architecture (what a checkpoint must match);
`TrainingDefaults` holds the training hyper-parameters that go with a preset
(consumed by the training loop's own configuration). `get_config` returns
both for a named preset of `CONFIGS`, with overrides.
"""

import dataclasses
import math
from dataclasses import dataclass, field

__all__ = ['NetworkConfig', 'TrainingDefaults', 'CONFIGS', 'get_config', 'channels_for']

ARCHITECTURES = ('stylegan', 'stylegan2')
MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024


def channels_for(resolution, *, channel_base, channel_max):
    """
    Number of feature maps at a resolution: ``min(channel_base // resolution, channel_max)``.

    Parameters
    ----------
    resolution : int
        Resolution of the block (4, 8, 16, ...).
    channel_base : int
        Capacity constant.
    channel_max : int
        Upper limit.

    Returns
    -------
    channels : int
    """
    return min(int(channel_base) // int(resolution), int(channel_max))


@dataclass
class NetworkConfig:
    """
    Architecture of the generator and discriminator.

    Parameters
    ----------
    architecture : {'stylegan2', 'stylegan'}
        ``'stylegan'``: the method's StyleGAN (learned constant, noise with
        per-channel scale, AdaIN, toRGB per resolution, progressive growing);
        ``'stylegan2'``: modulated/demodulated convolutions, skip generator,
        residual discriminator.
    resolution : int
        Output resolution (power of two, 8 ... 1024).
    img_channels : int
        Number of image channels (bands), any positive integer.
    z_dim, w_dim : int
        Dimensions of the latent z and the intermediate latent w.
    mapping_layers : int
        Number of fully connected layers of the mapping network.
    mapping_lr_mult : float
        Learning-rate multiplier of the mapping network.
    channel_base, channel_max : int
        Feature maps at resolution r: ``min(channel_base // r, channel_max)``.
    mbstd_group_size : int
        Group size of the minibatch standard-deviation layer (reduced to a
        divisor of the batch size when needed).
    mbstd_num_channels : int
        Number of feature maps added by the minibatch standard-deviation layer.
    w_avg_beta : float
        Decay of the moving average of w used by the truncation trick.
    normalize_z : bool
        Normalize z to unit second moment before the mapping network.
    noise_seed : int
        Seed of the fixed noise buffers used with ``noise_mode='const'``.
    """

    architecture: str = 'stylegan2'
    resolution: int = 64
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mult: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    w_avg_beta: float = 0.995
    normalize_z: bool = True
    noise_seed: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self):
        """
        Check the values.

        Raises
        ------
        ValueError
            If a value is out of range.
        """
        if self.architecture not in ARCHITECTURES:
            msg = f'architecture must be one of {ARCHITECTURES}, got {self.architecture!r}'
            raise ValueError(msg)
        res = int(self.resolution)
        if (res < MIN_RESOLUTION or res > MAX_RESOLUTION or res != self.resolution
                or 2 ** int(round(math.log2(res))) != res):
            msg = (f'resolution must be a power of two between {MIN_RESOLUTION} and '
                   f'{MAX_RESOLUTION}, got {self.resolution!r}')
            raise ValueError(msg)
        for name in ('img_channels', 'z_dim', 'w_dim', 'mapping_layers', 'channel_base',
                     'channel_max', 'mbstd_group_size'):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                msg = f'{name} must be a positive integer, got {value!r}'
                raise ValueError(msg)
        if self.mbstd_num_channels < 0:
            msg = f'mbstd_num_channels must be >= 0, got {self.mbstd_num_channels!r}'
            raise ValueError(msg)
        if not self.mapping_lr_mult > 0:
            msg = f'mapping_lr_mult must be > 0, got {self.mapping_lr_mult!r}'
            raise ValueError(msg)
        if not 0 <= self.w_avg_beta <= 1:
            msg = f'w_avg_beta must be in [0, 1], got {self.w_avg_beta!r}'
            raise ValueError(msg)
        if self.channels(self.resolution) < 1:
            msg = (f'channel_base={self.channel_base} gives no feature maps at resolution '
                   f'{self.resolution}; use channel_base >= {self.resolution}')
            raise ValueError(msg)

    @property
    def log2_resolution(self):
        """int: log2 of the output resolution."""
        return int(round(math.log2(self.resolution)))

    @property
    def num_ws(self):
        """int: number of per-layer w vectors used by the synthesis network."""
        return 2 * self.log2_resolution - 2

    @property
    def resolutions(self):
        """list of int: block resolutions 4, 8, ..., resolution."""
        return [2 ** k for k in range(2, self.log2_resolution + 1)]

    def channels(self, resolution):
        """
        Feature maps at a resolution (see `channels_for`).

        Parameters
        ----------
        resolution : int

        Returns
        -------
        channels : int
        """
        return channels_for(resolution, channel_base=self.channel_base,
                            channel_max=self.channel_max)

    def to_dict(self):
        """dict: the fields as plain Python values (JSON-serializable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """
        Build from a dict made by `to_dict`.

        Parameters
        ----------
        d : dict

        Returns
        -------
        config : `NetworkConfig`

        Raises
        ------
        ValueError
            If ``d`` holds unknown keys.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = f'unknown NetworkConfig fields: {unknown}'
            raise ValueError(msg)
        return cls(**d)

    def mismatches(self, other):
        """
        Fields that differ from another config.

        Parameters
        ----------
        other : `NetworkConfig` or dict

        Returns
        -------
        mismatches : list of str
            ``'name: self_value != other_value'`` for every differing field.
        """
        if isinstance(other, NetworkConfig):
            other = other.to_dict()
        mine = self.to_dict()
        return [f'{k}: {mine[k]!r} != {other.get(k)!r}'
                for k in mine if mine[k] != other.get(k)]


@dataclass
class TrainingDefaults:
    """
    Training hyper-parameters that go with a network preset.

    Parameters
    ----------
    batch_size : int
        Minibatch size.
    g_lr, d_lr : float
        Adam learning rates of G and D.
    betas : tuple of float
        Adam betas.
    eps : float
        Adam epsilon.
    loss : {'r1', 'wgangp'}
        Non-saturating logistic loss with lazy R1, or the method's WGAN-GP.
    r1_gamma : float
        R1 weight (``'r1'`` loss).
    lazy_r1_interval : int
        R1 computed every this many minibatches (lazy regularization).
    pl_weight : float
        Path-length regularization weight (0 disables it).
    pl_interval : int
        Path-length regularization interval.
    gp_lambda : float
        Gradient-penalty weight (``'wgangp'`` loss).
    drift : float
        Drift term weight (``'wgangp'`` loss).
    style_mixing_prob : float
        Probability of style mixing.
    ema_kimg : float
        Half-life of the generator's moving average, in thousands of images.
    ema_rampup : float or None
        If set, the half-life is at most ``ema_rampup`` times the images seen.
    ada_target : float or None
        Target of adaptive augmentation (None: no augmentation).
    ada_kimg : float
        Images (thousands) for p to go from 0 to 1 in adaptive augmentation.
    lod_training_kimg, lod_transition_kimg : float
        Progressive growing ('stylegan' only): images (thousands) trained at
        each resolution, and fade-in length.
    """

    batch_size: int = 16
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple = (0.0, 0.99)
    eps: float = 1e-8
    loss: str = 'r1'
    r1_gamma: float = 0.05
    lazy_r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    gp_lambda: float = 10.0
    drift: float = 1e-3
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    ada_target: float | None = 0.6
    ada_kimg: float = 500.0
    lod_training_kimg: float = 600.0
    lod_transition_kimg: float = 600.0

    def to_dict(self):
        """dict: the fields as plain Python values."""
        d = dataclasses.asdict(self)
        d['betas'] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d):
        """
        Build from a dict made by `to_dict`.

        Parameters
        ----------
        d : dict

        Returns
        -------
        defaults : `TrainingDefaults`
        """
        d = dict(d)
        if 'betas' in d:
            d['betas'] = tuple(d['betas'])
        return cls(**d)


@dataclass
class _Preset:
    network: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


# Named presets. The R1 weights follow the ADA paper's heuristic
# gamma = 0.0002 * resolution**2 / batch_size. The CPU presets, meant for short
# runs, ramp the EMA half-life up (at most 5% of the images seen, as in ADA):
# without it the EMA generator of a run of a few kimg averages its first,
# untrained weights.
CONFIGS = {
    'cpu-16': _Preset(
        network=dict(architecture='stylegan2', resolution=16, img_channels=3,
                     z_dim=128, w_dim=128, mapping_layers=4,
                     channel_base=2048, channel_max=64),
        training=dict(batch_size=16, r1_gamma=0.0002 * 16 ** 2 / 16, ema_kimg=2.0,
                      ema_rampup=0.05)),
    'cpu-32': _Preset(
        network=dict(architecture='stylegan2', resolution=32, img_channels=3,
                     z_dim=256, w_dim=256, mapping_layers=8,
                     channel_base=4096, channel_max=128),
        training=dict(batch_size=16, r1_gamma=0.0002 * 32 ** 2 / 16, ema_kimg=5.0,
                      ema_rampup=0.05)),
    # 128 feature maps from 4x4 to 32x32 and 64 at 64x64 (channel_base 4096):
    # 2.5 times less work per image than 128 everywhere, which is what makes
    # >= 30 kimg/h possible on 2 CPU cores (see benchmarks/bench_stylegan.py).
    'cpu-64': _Preset(
        network=dict(architecture='stylegan2', resolution=64, img_channels=3,
                     z_dim=512, w_dim=512, mapping_layers=8,
                     channel_base=4096, channel_max=128),
        training=dict(batch_size=16, r1_gamma=0.0002 * 64 ** 2 / 16, ema_kimg=5.0,
                      ema_rampup=0.05, lazy_r1_interval=16)),
    'gpu-128': _Preset(
        network=dict(architecture='stylegan2', resolution=128, img_channels=3,
                     channel_base=32768, channel_max=512),
        training=dict(batch_size=32, r1_gamma=0.0002 * 128 ** 2 / 32, ema_kimg=10.0)),
    'gpu-256': _Preset(
        network=dict(architecture='stylegan2', resolution=256, img_channels=3,
                     channel_base=16384, channel_max=512),
        training=dict(batch_size=64, r1_gamma=1.0, ema_kimg=20.0)),
    # The method's configuration: StyleGAN (2019) with progressive growing
    # from 8x8 and the WGAN-GP loss.
    'paper-256': _Preset(
        network=dict(architecture='stylegan', resolution=256, img_channels=3,
                     channel_base=16384, channel_max=512),
        training=dict(batch_size=32, loss='wgangp', g_lr=0.001, d_lr=0.001,
                      gp_lambda=10.0, drift=1e-3, ema_kimg=10.0, ada_target=None,
                      lod_training_kimg=600.0, lod_transition_kimg=600.0)),
}


def get_config(name, **overrides):
    """
    Network configuration and training defaults of a named preset.

    Parameters
    ----------
    name : str
        A key of `CONFIGS` (``'cpu-16'``, ``'cpu-32'``, ``'cpu-64'``,
        ``'gpu-128'``, ``'gpu-256'``, ``'paper-256'``).
    **overrides
        Fields of `NetworkConfig` or `TrainingDefaults` to change (for
        example ``resolution=32, img_channels=5, batch_size=8``).

    Returns
    -------
    network : `NetworkConfig`
    training : `TrainingDefaults`

    Raises
    ------
    ValueError
        If the name or an override is unknown, or a value is invalid.
    """
    if name not in CONFIGS:
        msg = f'unknown StyleGAN config {name!r}; choose one of {sorted(CONFIGS)}'
        raise ValueError(msg)
    preset = CONFIGS[name]
    net_fields = {f.name for f in dataclasses.fields(NetworkConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainingDefaults)}
    net = dict(preset.network)
    train = dict(preset.training)
    for key, value in overrides.items():
        if key in net_fields:
            net[key] = value
        elif key in train_fields:
            train[key] = value
        else:
            msg = f'unknown config field {key!r} (not in NetworkConfig or TrainingDefaults)'
            raise ValueError(msg)
    if 'betas' in train:
        train['betas'] = tuple(train['betas'])
    return NetworkConfig(**net), TrainingDefaults(**train)
