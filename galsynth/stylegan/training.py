# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The StyleGAN training loop.

`train` trains a generator and a discriminator built from a
`~galsynth.stylegan.configs.NetworkConfig` on a galaxy dataset, counted in
thousands of real images shown to the discriminator (kimg), with:

* the progressive-growing schedule of the method's StyleGAN (architecture
  ``'stylegan'``: from 8x8 to the final resolution, alternating stable and
  fade-in phases; see `progressive_schedule`) or a fixed resolution
  (``'stylegan2'``);
* Adam per loss phase (with the lazy-regularization correction of the
  learning rate and betas), an exponential moving average of the generator
  (``G_ema``, used for every sample and metric), and adaptive discriminator
  augmentation;
* fine-tuning from a checkpoint onto a new dataset with frozen generator
  layers or blocks and frozen discriminator blocks (frozen parameters get no
  gradient and are not in the optimizers);
* atomic checkpoints every ``snapshot_kimg`` that resume *exactly*: all
  randomness of a step is derived from ``(seed, rank, step)`` and that of a
  training image from ``(seed, image position)``, so a resumed run takes the
  same steps as an uninterrupted one;
* metric callbacks every ``metric_kimg`` with the best snapshot kept;
* logs in ``log.jsonl`` and ``log.csv`` (and TensorBoard when installed),
  tqdm progress;
* data parallelism over processes with `torch.distributed` (see
  `galsynth.stylegan.distributed`) and bfloat16 mixed precision on CUDA.
"""

import contextlib
import copy
import csv
import dataclasses
import io
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.io import atomic_write_bytes, check_output_dir
from . import distributed as dist_utils
from .checkpoint import (
    _normalization_dict,
    check_compatible,
    check_dataset_compatible,
    checkpoint_bytes,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
)

__all__ = [
    'TrainingConfig',
    'TrainingError',
    'TrainingResult',
    'train',
    'progressive_schedule',
    'fade_reals',
    'SlicedWassersteinMetric',
    'sliced_wasserstein',
]

log = logging.getLogger(__name__)

_SNAPSHOT_PATTERN = 'network-snapshot-{:010.3f}.pt'


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss or weights, inconsistent state)."""


# ----------------------------------------------------------------------------
# Configuration

@dataclass
class TrainingConfig:
    """
    Everything that defines a training run (saved as JSON beside the run and
    inside every checkpoint).

    Fields left at `None` take the value of the network preset's
    `~galsynth.stylegan.configs.TrainingDefaults` (see `resolve`).

    Parameters
    ----------
    network : str or None
        Name of a preset of `galsynth.stylegan.configs.CONFIGS` (``'cpu-64'``,
        ...). `None` when fine-tuning: the checkpoint's network is used.
    network_overrides : dict
        `~galsynth.stylegan.configs.NetworkConfig` fields to change (e.g.
        ``{'channel_max': 64}``). ``img_channels`` and ``resolution`` default
        to the dataset's.
    kimg : float
        Length of the run in thousands of real images shown to D (a
        fine-tuning run counts from 0).
    batch_size : int
        Global minibatch size (split over processes).
    g_lr, d_lr : float
        Adam learning rates.
    betas : tuple of float
        Adam betas (``(0, 0.99)`` for both StyleGAN papers' defaults used
        here).
    eps : float
        Adam epsilon.
    loss : {'r1', 'wgangp'}
        Non-saturating logistic loss with lazy R1, or WGAN-GP (the method's).
    r1_gamma, lazy_r1_interval, pl_weight, pl_interval, gp_lambda, drift : float or int
        Loss weights and lazy-regularization intervals (see
        `galsynth.stylegan.losses`).
    style_mixing_prob : float
        Probability of style mixing.
    ema_kimg : float
        Half-life of ``G_ema`` in thousands of images.
    ema_rampup : float or None
        If set, the half-life is at most ``ema_rampup`` times the images seen
        (a fast average early in a run).
    ada_target : float or None
        Target of the adaptive augmentation heuristic (the mean sign of D on
        reals); 0 disables ADA (``augment_p`` is then fixed); None: the
        preset's value.
    ada_kimg : float
        Thousands of images for p to move by 1 at most.
    ada_interval : int
        Update p every this many minibatches.
    augment_p : float
        Initial (and, without ADA, fixed) augmentation probability.
    augment_translate : float
        Largest integer translation of the augmentation, as a fraction of the
        image size (0: none).
    augment_rotate45 : bool
        Also rotate by 45 degrees in the augmentation (not exact).
    augment_fill : {'reflect', 'wrap', 'zero'}
        Fill of pixels shifted in by translations.
    lod_training_kimg, lod_transition_kimg : float
        Progressive growing (``'stylegan'`` only): thousands of images at
        each resolution (stable phase) and in each fade-in.
    start_resolution : int
        First resolution of progressive growing (8).
    dataset_options : dict or None
        A record of how the dataset was built (folder, kind, augmentation
        such as rotations and fill): informational for `train` (the dataset
        applies its own augmentation), used by ``galsynth train --continue``
        to rebuild it.
    snapshot_kimg : float
        Checkpoint interval.
    metric_kimg : float or None
        Interval of the metric callbacks (default ``snapshot_kimg``).
    tick_kimg : float
        Interval of the log records.
    best_metric : str or None
        Name of the metric (returned by a callback) by which ``best.pt`` is
        kept; lower is better unless ``best_mode='max'``.
    best_mode : {'min', 'max'}
    keep_snapshots : int or None
        Keep only the newest this many ``network-snapshot-*.pt`` (None: all).
    sample_grid : int
        Number of G_ema samples (fixed latents) saved as ``fakes-<kimg>.png``
        at each snapshot (0: none).
    seed : int
        Seed of everything (initialization, data order, latents, noise,
        augmentation).
    device : str
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
    deterministic : bool
        `torch.use_deterministic_algorithms` during the run (bit-identical
        results on the same machine and software).
    mixed_precision : {'auto', 'on', 'off'}
        bfloat16 autocast for the forward passes; ``'auto'``: on CUDA only.
        Never used on CPU.
    freeze_g : int
        Freeze the first N synthesis layers of G (the method's fine-tuning).
    freeze_g_blocks : int
        Freeze the first N synthesis blocks of G.
    freeze_d : int
        Freeze the first N discriminator blocks (FreezeD).
    freeze_mapping : bool or None
        Also freeze the mapping network (None: the default of
        `galsynth.stylegan.networks.freeze_generator`, i.e. not frozen).
    resume : str or None
        Checkpoint to start from.
    resume_mode : {'auto', 'continue', 'finetune'}
        ``'continue'``: resume the interrupted run exactly (all states, the
        image counter, the optimizers); ``'finetune'``: a new run (counter 0,
        fresh optimizers and augmentation) starting from the checkpoint's
        weights; ``'auto'``: continue when the checkpoint lies inside the
        output folder, fine-tune otherwise.
    workers : int
        Data-loading worker processes (0: load in the main process).
    tensorboard : bool or None
        Write TensorBoard events (None: when installed).
    """

    network: str | None = 'cpu-64'
    network_overrides: dict = field(default_factory=dict)
    kimg: float = 1000.0
    batch_size: int | None = None
    g_lr: float | None = None
    d_lr: float | None = None
    betas: tuple | None = None
    eps: float | None = None
    loss: str | None = None
    r1_gamma: float | None = None
    lazy_r1_interval: int | None = None
    pl_weight: float | None = None
    pl_interval: int | None = None
    gp_lambda: float | None = None
    drift: float | None = None
    style_mixing_prob: float | None = None
    ema_kimg: float | None = None
    ema_rampup: float | None = None
    ada_target: float | None = None
    ada_kimg: float | None = None
    ada_interval: int = 4
    augment_p: float = 0.0
    augment_translate: float = 0.125
    augment_rotate45: bool = False
    augment_fill: str = 'reflect'
    lod_training_kimg: float | None = None
    lod_transition_kimg: float | None = None
    start_resolution: int = 8
    dataset_options: dict | None = None
    snapshot_kimg: float = 50.0
    metric_kimg: float | None = None
    tick_kimg: float = 1.0
    best_metric: str | None = None
    best_mode: str = 'min'
    keep_snapshots: int | None = None
    sample_grid: int = 16
    seed: int = 0
    device: str = 'auto'
    deterministic: bool = False
    mixed_precision: str = 'auto'
    freeze_g: int = 0
    freeze_g_blocks: int = 0
    freeze_d: int = 0
    freeze_mapping: bool | None = None
    resume: str | None = None
    resume_mode: str = 'auto'
    workers: int = 0
    tensorboard: bool | None = None

    #: Fields taken from the preset's TrainingDefaults when None. ``ema_rampup``
    #: and ``ada_target`` are included: None there means "preset's value".
    _PRESET_FIELDS = ('batch_size', 'g_lr', 'd_lr', 'betas', 'eps', 'loss', 'r1_gamma',
                      'lazy_r1_interval', 'pl_weight', 'pl_interval', 'gp_lambda', 'drift',
                      'style_mixing_prob', 'ema_kimg', 'ema_rampup', 'ada_target', 'ada_kimg',
                      'lod_training_kimg', 'lod_transition_kimg')

    def to_dict(self):
        """dict: the fields as JSON-serializable values."""
        d = dataclasses.asdict(self)
        if d['betas'] is not None:
            d['betas'] = [float(b) for b in d['betas']]
        d['network_overrides'] = dict(d['network_overrides'])
        return d

    @classmethod
    def from_dict(cls, d):
        """
        Build from a dict made by `to_dict` (unknown keys are an error).

        Parameters
        ----------
        d : dict

        Returns
        -------
        `TrainingConfig`
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = f'unknown TrainingConfig fields: {unknown}'
            raise ValueError(msg)
        d = dict(d)
        if d.get('betas') is not None:
            d['betas'] = tuple(d['betas'])
        return cls(**d)

    def resolve(self, *, dataset=None, network_config=None, defaults=None):
        """
        The network configuration and a copy of this config with every
        preset-dependent field filled in.

        Parameters
        ----------
        dataset : dataset, optional
            Supplies ``img_channels`` (``num_channels``) and ``resolution``
            unless ``network_overrides`` sets them.
        network_config : `~galsynth.stylegan.configs.NetworkConfig`, optional
            Use this network (a checkpoint's) when ``network`` is None.
        defaults : dict, optional
            Values for the fields left at None when ``network`` is None (the
            checkpoint's training configuration when fine-tuning); the
            generic `~galsynth.stylegan.configs.TrainingDefaults` otherwise.

        Returns
        -------
        network : `~galsynth.stylegan.configs.NetworkConfig`
        config : `TrainingConfig`

        Raises
        ------
        ValueError
            For an unknown preset, bad values, or a dataset that does not fit
            the network.
        """
        from .configs import NetworkConfig, TrainingDefaults, get_config

        overrides = dict(self.network_overrides)
        if dataset is not None:
            overrides.setdefault('img_channels', int(dataset.num_channels))
            overrides.setdefault('resolution', int(dataset.resolution))
        if self.network is not None:
            net, defaults = get_config(self.network, **overrides)
        elif network_config is not None:
            base = network_config.to_dict() if not isinstance(network_config, dict) \
                else dict(network_config)
            unknown = sorted(set(overrides) - set(base))
            if unknown:
                msg = f'unknown network_overrides {unknown}'
                raise ValueError(msg)
            net = NetworkConfig.from_dict(base | overrides)
            generic = TrainingDefaults()
            saved = dict(defaults or {})
            defaults = type('Defaults', (), {
                name: saved[name] if saved.get(name) is not None else getattr(generic, name)
                for name in self._PRESET_FIELDS})
        else:
            msg = 'TrainingConfig.network is None: name a preset (or resume from a checkpoint)'
            raise ValueError(msg)
        resolved = dataclasses.replace(self)
        resolved.network_overrides = dict(self.network_overrides)
        for name in self._PRESET_FIELDS:
            if getattr(resolved, name) is None:
                setattr(resolved, name, getattr(defaults, name))
        resolved.betas = tuple(float(b) for b in resolved.betas)
        if resolved.ada_target is None or resolved.ada_target <= 0:
            resolved.ada_target = 0.0
        if resolved.metric_kimg is None:
            resolved.metric_kimg = resolved.snapshot_kimg
        resolved._validate(net, dataset)
        return net, resolved

    def _validate(self, net, dataset):
        problems = []
        if self.loss not in ('r1', 'wgangp'):
            problems.append(f"loss must be 'r1' or 'wgangp', got {self.loss!r}")
        for name in ('kimg', 'snapshot_kimg', 'metric_kimg', 'tick_kimg', 'g_lr', 'd_lr',
                     'ema_kimg', 'ada_kimg'):
            value = getattr(self, name)
            if not (value is not None and math.isfinite(value) and value > 0):
                problems.append(f'{name} must be > 0, got {value!r}')
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            problems.append(f'batch_size must be a positive integer, got {self.batch_size!r}')
        for name in ('freeze_g', 'freeze_g_blocks', 'freeze_d', 'workers', 'sample_grid'):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                problems.append(f'{name} must be an integer >= 0, got {value!r}')
        if not 0 <= self.augment_p <= 1:
            problems.append(f'augment_p must be in [0, 1], got {self.augment_p!r}')
        if self.ada_target and not 0 < self.ada_target < 1:
            problems.append(f'ada_target must be in (0, 1), got {self.ada_target!r}')
        if self.best_mode not in ('min', 'max'):
            problems.append(f"best_mode must be 'min' or 'max', got {self.best_mode!r}")
        if self.resume_mode not in ('auto', 'continue', 'finetune'):
            problems.append("resume_mode must be 'auto', 'continue' or 'finetune', got "
                            f'{self.resume_mode!r}')
        if self.mixed_precision not in ('auto', 'on', 'off'):
            problems.append("mixed_precision must be 'auto', 'on' or 'off', got "
                            f'{self.mixed_precision!r}')
        if net.architecture == 'stylegan':
            if self.start_resolution not in [2 ** k for k in range(3, 11)] \
                    or self.start_resolution > net.resolution:
                problems.append(f'start_resolution must be a power of two in [8, '
                                f'{net.resolution}], got {self.start_resolution!r}')
            for name in ('lod_training_kimg', 'lod_transition_kimg'):
                if not getattr(self, name) >= 0:
                    problems.append(f'{name} must be >= 0')
        if dataset is not None:
            if int(dataset.num_channels) != net.img_channels:
                problems.append(f'the dataset has {dataset.num_channels} channels, the network '
                                f'{net.img_channels}')
            if int(dataset.resolution) != net.resolution:
                problems.append(f'the dataset resolution is {dataset.resolution}, the network '
                                f'makes {net.resolution}')
            if len(dataset) < 1:
                problems.append('the dataset is empty')
        if problems:
            msg = 'invalid training configuration: ' + '; '.join(problems)
            raise ValueError(msg)


@dataclass
class TrainingResult:
    """
    What `train` returns.

    Attributes
    ----------
    out_dir : `~pathlib.Path`
        The run folder.
    kimg : float
        Thousands of images shown at the end.
    latest : `~pathlib.Path` or None
        ``latest.pt`` (a copy of the last snapshot).
    best : `~pathlib.Path` or None
        ``best.pt`` when a ``best_metric`` was tracked.
    best_value : float or None
    snapshots : list of `~pathlib.Path`
        The snapshots written by this call.
    metrics : list of dict
        Every metric evaluation (with ``kimg``).
    stats : dict
        The last log record.
    seconds : float
        Wall-clock time of this call.
    G, D, G_ema : `torch.nn.Module`
        The networks at the end of the run.
    """

    out_dir: Path
    kimg: float
    latest: Path | None
    best: Path | None
    best_value: float | None
    snapshots: list
    metrics: list
    stats: dict
    seconds: float
    G: object = field(default=None, repr=False)
    D: object = field(default=None, repr=False)
    G_ema: object = field(default=None, repr=False)


# ----------------------------------------------------------------------------
# Progressive growing

def progressive_schedule(kimg, *, start_resolution, final_resolution, stable_kimg, fade_kimg):
    """
    Resolution and fade-in weight of progressive growing after ``kimg``.

    The run starts with a stable phase at ``start_resolution``; then every
    doubling of the resolution is a fade-in of ``fade_kimg`` (alpha goes
    linearly from 0 to 1) followed by a stable phase of ``stable_kimg``
    (alpha = 1). After the last fade-in, training stays at
    ``final_resolution`` with alpha = 1.

    Parameters
    ----------
    kimg : float
        Thousands of images shown since the start of growing.
    start_resolution, final_resolution : int
        Powers of two.
    stable_kimg, fade_kimg : float
        Phase lengths in thousands of images.

    Returns
    -------
    resolution : int
    alpha : float
        In [0, 1]; the weight of the newest block.
    """
    resolution = int(start_resolution)
    t = float(kimg) - float(stable_kimg)
    while resolution < final_resolution:
        if t < 0:
            return resolution, 1.0
        if t < fade_kimg:
            return resolution * 2, t / fade_kimg
        t -= fade_kimg + stable_kimg
        resolution *= 2
    return int(final_resolution), 1.0


def fade_reals(images, resolution, alpha):
    """
    Real images as the growing networks see them.

    Downsamples ``images`` to ``resolution`` (box filter); during a fade-in
    (``alpha < 1``) blends them with the half-resolution version upsampled
    back, as the generator's output is blended.

    Parameters
    ----------
    images : `torch.Tensor`
        ``[N, C, H, W]`` at the dataset resolution.
    resolution : int
        Current resolution.
    alpha : float
        Weight of the full-detail images.

    Returns
    -------
    `torch.Tensor`
        ``[N, C, resolution, resolution]``.
    """
    from .layers import downsample2d, upsample2d

    size = images.shape[-1]
    if size != resolution:
        images = downsample2d(images, size // resolution)
    if alpha < 1.0:
        low = upsample2d(downsample2d(images, 2))
        images = torch.lerp(low, images, float(alpha))
    return images


# ----------------------------------------------------------------------------
# Data order and randomness

def _seed_from(*words):
    """A 63-bit seed that depends only on the integer words."""
    state = np.random.SeedSequence([int(w) & 0xFFFFFFFFFFFFFFFF for w in words])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def _seeded_global_rngs(seed, device):
    """Seed torch/numpy/python global RNGs inside the block, restore them after."""
    devices = [device] if device.type == 'cuda' else []
    np_state = np.random.get_state()  # noqa: NPY002  (the global state, on purpose)
    py_state = random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed & 0xFFFFFFFF)  # noqa: NPY002
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


class _DataOrder:
    """
    The order of training images: a fresh seeded permutation per epoch.

    Global position ``k`` (the k-th image shown, over all processes) is image
    ``perm_e[k % n]`` of epoch ``e = k // n``. Positions ``step * B ... step * B
    + B - 1`` make minibatch ``step``; process ``r`` of ``w`` takes every w-th
    of them starting at ``r``.
    """

    def __init__(self, n, seed):
        self.n = int(n)
        self.seed = int(seed)
        self._epoch = None
        self._perm = None

    def index(self, position):
        epoch, offset = divmod(int(position), self.n)
        if epoch != self._epoch:
            rng = np.random.default_rng(_seed_from(self.seed, 0xDA7A, epoch))
            self._perm = rng.permutation(self.n)
            self._epoch = epoch
        return int(self._perm[offset])

    def positions(self, step, batch_size, rank, world_size):
        start = int(step) * batch_size
        return list(range(start + rank, start + batch_size, world_size))


class _SeededItems(torch.utils.data.Dataset):
    """
    Wraps a dataset: item ``(position, index)`` is drawn with the global RNGs
    seeded from the position, after ``dataset.set_epoch(position // len)``
    when the dataset has it (the galsynth datasets draw their augmentation
    from the epoch and the index).
    """

    def __init__(self, dataset, seed):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        position, index = key
        if hasattr(self.dataset, 'set_epoch'):
            # datasets that draw their augmentation from (seed, epoch, index)
            self.dataset.set_epoch(position // len(self.dataset))
        with _seeded_global_rngs(_seed_from(self.seed, 0x17E3, position), torch.device('cpu')):
            item = self.dataset[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, dict):
            item = item['image']
        item = torch.as_tensor(item, dtype=torch.float32)
        return item


class _KeySampler(torch.utils.data.Sampler):
    """Infinite stream of (position, index) keys for one process, from a step on."""

    def __init__(self, order, *, start_step, batch_size, rank, world_size):
        self.order = order
        self.start_step = start_step
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size

    def __iter__(self):
        step = self.start_step
        while True:
            for pos in self.order.positions(step, self.batch_size, self.rank, self.world_size):
                yield (pos, self.order.index(pos))
            step += 1


class _Batches:
    """Minibatches of real images for one process (main process or DataLoader workers)."""

    def __init__(self, dataset, order, *, seed, start_step, batch_size, rank, world_size,
                 workers, device):
        self.items = _SeededItems(dataset, seed)
        self.order = order
        self.step = start_step
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.device = device
        self._iter = None
        if workers > 0:
            sampler = _KeySampler(order, start_step=start_step, batch_size=batch_size,
                                  rank=rank, world_size=world_size)
            loader = torch.utils.data.DataLoader(
                self.items, batch_size=batch_size // world_size, sampler=sampler,
                num_workers=workers, pin_memory=device.type == 'cuda', drop_last=True,
                persistent_workers=True, prefetch_factor=2)
            self._iter = iter(loader)

    def next(self):
        if self._iter is not None:
            batch = next(self._iter)
        else:
            keys = [(p, self.order.index(p)) for p in
                    self.order.positions(self.step, self.batch_size, self.rank,
                                         self.world_size)]
            batch = torch.stack([self.items[k] for k in keys])
        self.step += 1
        return batch.to(self.device, non_blocking=True)


def _rng_state():
    state = np.random.get_state()  # noqa: NPY002
    py = random.getstate()
    out = {
        'torch': torch.get_rng_state(),
        'numpy': {'name': str(state[0]), 'keys': torch.from_numpy(state[1].astype(np.int64)),
                  'pos': int(state[2]), 'has_gauss': int(state[3]),
                  'cached_gaussian': float(state[4])},
        'python': [int(py[0]), [int(v) for v in py[1]], py[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out['cuda'] = list(torch.cuda.get_rng_state_all())
    return out


def _set_rng_state(state):
    torch.set_rng_state(state['torch'])
    npst = state['numpy']
    legacy = (npst['name'], npst['keys'].numpy().astype(np.uint32), npst['pos'],
              npst['has_gauss'], npst['cached_gaussian'])
    np.random.set_state(legacy)  # noqa: NPY002
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    if 'cuda' in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):
            torch.cuda.set_rng_state_all(state['cuda'])


# ----------------------------------------------------------------------------
# Helpers

def _cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _opt_state(opt):
    def to_cpu(obj):
        if torch.is_tensor(obj):
            return obj.detach().cpu().clone()
        if isinstance(obj, dict):
            return {k: to_cpu(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [to_cpu(v) for v in obj]
        return obj
    return to_cpu(opt.state_dict())


def _load_opt_state(opt, state, device):
    state = copy.deepcopy(state)
    for group in state['param_groups']:
        if 'betas' in group:
            group['betas'] = tuple(group['betas'])
    opt.load_state_dict(state)
    for st in opt.state.values():
        for k, v in st.items():
            if torch.is_tensor(v) and k != 'step':
                st[k] = v.to(device)


def _write_json(path, obj):
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + '\n',
                       overwrite=True)


def _to_float(value):
    if torch.is_tensor(value):
        if value.numel() != 1:
            return float(value.detach().float().mean())
        return float(value.detach())
    return float(value)


def _save_grid(images, path):
    """Save [N, C, H, W] images in about [-1, 1] as a PNG grid (last 3 channels as RGB)."""
    from PIL import Image

    x = images.detach().float().cpu()
    if x.shape[1] >= 3:
        x = x[:, -3:].flip(1)  # bands ordered blue to red: (g, r, i) -> RGB (i, r, g)
    else:
        x = x[:, :1].expand(-1, 3, -1, -1)
    n = x.shape[0]
    ncols = int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    h, w = x.shape[-2:]
    grid = torch.zeros(3, nrows * h, ncols * w)
    for k in range(n):
        r, c = divmod(k, ncols)
        grid[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = x[k]
    arr = ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format='PNG')
    atomic_write_bytes(path, buffer.getvalue(), overwrite=True)


class _Log:
    """``log.jsonl`` + ``log.csv`` (+ TensorBoard) of the run, written by rank 0."""

    def __init__(self, out_dir, *, enabled, tensorboard, truncate_after=None):
        self.enabled = enabled
        self.jsonl = Path(out_dir) / 'log.jsonl'
        self.csv = Path(out_dir) / 'log.csv'
        self.columns = None
        self.writer = None
        if not enabled:
            return
        if truncate_after is not None and self.jsonl.exists():
            kept = [line for line in self.jsonl.read_text().splitlines()
                    if line.strip() and json.loads(line).get('kimg', 0) <= truncate_after + 1e-9]
            atomic_write_bytes(self.jsonl, ''.join(f'{line}\n' for line in kept),
                               overwrite=True)
            self._rewrite_csv()
        if tensorboard is not False:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard:
                    log.warning('TensorBoard is not installed; no event files are written')
            else:
                self.writer = SummaryWriter(str(out_dir))

    def _records(self):
        if not self.jsonl.exists():
            return []
        return [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]

    def _rewrite_csv(self):
        records = self._records()
        columns = []
        for rec in records:
            columns += [k for k in rec if k not in columns]
        self.columns = columns
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval='')
        writer.writeheader()
        writer.writerows(records)
        atomic_write_bytes(self.csv, buffer.getvalue(), overwrite=True)

    def write(self, record):
        if not self.enabled:
            return
        with open(self.jsonl, 'a') as fh:
            fh.write(json.dumps(record, sort_keys=False) + '\n')
        if self.columns is None or not set(record) <= set(self.columns) or \
                not self.csv.exists():
            self._rewrite_csv()
        else:
            with open(self.csv, 'a', newline='') as fh:
                csv.DictWriter(fh, fieldnames=self.columns, restval='').writerow(record)
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ('kimg', 'nimg'):
                    self.writer.add_scalar(key, value, global_step=record['nimg'])
            self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()


# ----------------------------------------------------------------------------
# Metrics

def sliced_wasserstein(a, b, *, num_projections=256, generator=None):
    """
    Sliced Wasserstein-1 distance between two sets of vectors.

    Both sets are projected on random unit directions; the mean over
    directions of the 1-D Wasserstein-1 distance between the projections is
    returned.

    Parameters
    ----------
    a, b : `torch.Tensor`
        ``[N, D]`` and ``[M, D]`` (N need not equal M; the larger set is
        compared through quantiles).
    num_projections : int, optional
    generator : `torch.Generator`, optional
        Draws the directions.

    Returns
    -------
    float
    """
    a = a.reshape(a.shape[0], -1).double()
    b = b.reshape(b.shape[0], -1).double()
    dirs = torch.randn(a.shape[1], num_projections, generator=generator, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    pa = torch.sort(a @ dirs, dim=0).values
    pb = torch.sort(b @ dirs, dim=0).values
    if pa.shape[0] != pb.shape[0]:
        q = torch.linspace(0, 1, max(pa.shape[0], pb.shape[0]), dtype=torch.float64)
        pa = torch.quantile(pa, q, dim=0)
        pb = torch.quantile(pb, q, dim=0)
    return float((pa - pb).abs().mean())


class SlicedWassersteinMetric:
    """
    A metric callback: multi-scale sliced Wasserstein distance between G_ema
    samples and real images (lower is better).

    At each scale (full resolution and successive 2x box-filtered
    reductions down to 4x4), the images are compared as whole pixel vectors
    with `sliced_wasserstein`; the reported value (``'swd'``) is the mean
    over scales, and each scale is reported as ``'swd<res>'``. Latents,
    noise and directions are fixed by ``seed``, so the value changes only
    with the generator. During progressive growing the reals are compared
    at the generator's current resolution.

    Parameters
    ----------
    dataset : dataset
        Real images (``[C, H, W]`` tensors).
    num_images : int, optional
        Number of real and generated images.
    num_projections : int, optional
    seed : int, optional
    batch_size : int, optional
        Generator batch size.
    name : str, optional
        Name of the metric in the returned dict.
    """

    def __init__(self, dataset, *, num_images=256, num_projections=256, seed=0,
                 batch_size=64, name='swd'):
        rng = np.random.default_rng(seed)
        count = min(int(num_images), len(dataset))
        indices = rng.choice(len(dataset), size=count, replace=False)
        items = _SeededItems(dataset, seed)
        self.reals = torch.stack([items[(int(i), int(i))] for i in indices])
        self.num_images = int(num_images)
        self.num_projections = int(num_projections)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.name = name

    @torch.no_grad()
    def __call__(self, kimg, G_ema, state):
        device = next(G_ema.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.seed)
        fakes = []
        for start in range(0, self.num_images, self.batch_size):
            n = min(self.batch_size, self.num_images - start)
            z = torch.randn(n, G_ema.z_dim, generator=gen, device=device)
            fakes.append(G_ema(z, noise_mode='random', generator=gen).float().cpu())
        fakes = torch.cat(fakes)
        reals = fade_reals(self.reals, fakes.shape[-1], 1.0)
        out = {}
        values = []
        pgen = torch.Generator().manual_seed(self.seed + 1)
        a, b = reals, fakes
        while True:
            value = sliced_wasserstein(a, b, num_projections=self.num_projections,
                                       generator=pgen)
            out[f'{self.name}{a.shape[-1]}'] = value
            values.append(value)
            if a.shape[-1] <= 4:
                break
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        out[self.name] = float(np.mean(values))
        return out


# ----------------------------------------------------------------------------
# The loop

def _pick_device(name, ctx):
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(name)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            msg = f'device {name!r} requested but CUDA is not available'
            raise ValueError(msg)
        if device.index is None:
            device = torch.device('cuda', ctx.local_rank if ctx.world_size > 1
                                  else torch.cuda.current_device())
    return device


def _build_loss(cfg, G, D, augment_pipe):
    from . import losses

    if cfg.loss == 'wgangp':
        return losses.WGANGPLoss(G, D, augment_pipe=augment_pipe, gp_lambda=cfg.gp_lambda,
                                 drift=cfg.drift, style_mixing_prob=cfg.style_mixing_prob)
    return losses.NonSaturatingR1Loss(
        G, D, augment_pipe=augment_pipe, r1_gamma=cfg.r1_gamma,
        r1_interval=cfg.lazy_r1_interval, pl_weight=cfg.pl_weight,
        pl_interval=cfg.pl_interval, style_mixing_prob=cfg.style_mixing_prob)


def _make_optimizer(params, lr, betas, eps, phases, net_name):
    intervals = [interval for _, net, interval in phases if net == net_name and interval > 1]
    ratio = 1.0
    if intervals:
        reg = max(intervals)
        ratio = reg / (reg + 1)
    betas = tuple(b ** ratio for b in betas)
    return torch.optim.Adam(params, lr=lr * ratio, betas=betas, eps=eps)


def _apply_freezing(G, D, cfg):
    from .networks import freeze_discriminator, freeze_generator

    frozen_g, frozen_d = [], []
    if cfg.freeze_g or cfg.freeze_g_blocks:
        kwargs = {'layers': int(cfg.freeze_g), 'blocks': int(cfg.freeze_g_blocks)}
        if cfg.freeze_mapping is not None:
            kwargs['mapping'] = bool(cfg.freeze_mapping)
        frozen_g = list(freeze_generator(G, **kwargs))
    if cfg.freeze_d:
        frozen_d = list(freeze_discriminator(D, blocks=int(cfg.freeze_d)))
    for module, names in ((G, frozen_g), (D, frozen_d)):
        params = dict(module.named_parameters())
        for name in names:
            params[name].requires_grad_(False)
    return frozen_g, frozen_d


def _trainable(module):
    return [p for p in module.parameters() if p.requires_grad]


def _check_finite_module(module, name, where):
    for pname, p in module.named_parameters():
        if not torch.isfinite(p).all():
            msg = f'{name}.{pname} holds non-finite values {where}'
            raise TrainingError(msg)


def train(config, dataset, *, out_dir, resume=None, callbacks=(), progress=True):
    """
    Train (or fine-tune, or continue training) a StyleGAN.

    Parameters
    ----------
    config : `TrainingConfig`
        The run's settings.
    dataset : dataset
        Items are float32 ``[C, H, W]`` tensors in about [-1, 1]; attributes
        ``num_channels``, ``resolution``, ``bands`` and ``normalization``
        (saved in the checkpoints; see `galsynth.data.datasets`).
    out_dir : str or `~pathlib.Path`
        The run folder: ``training_options.json``, ``log.jsonl``,
        ``log.csv``, ``network-snapshot-*.pt``, ``latest.pt``, ``best.pt``,
        ``fakes-*.png``. A new run needs an empty or new folder.
    resume : str or `~pathlib.Path`, optional
        Checkpoint to start from (overrides ``config.resume``); see
        ``config.resume_mode``.
    callbacks : sequence of callable, optional
        Metric callbacks ``callback(kimg, G_ema, state) -> dict`` called every
        ``metric_kimg`` (and at the start of a new run) on rank 0; ``state``
        holds ``nimg``, ``step``, ``resolution``, ``alpha``, ``augment_p``,
        ``out_dir``, ``device``, ``dataset``, ``network_config`` and
        ``training_config``. Values are logged with a ``metric/`` prefix.
    progress : bool, optional
        Show a tqdm progress bar (rank 0).

    Returns
    -------
    `TrainingResult`

    Raises
    ------
    TrainingError
        When a loss or the weights become non-finite; the run stops and the
        previous checkpoints stay intact.
    ValueError
        For a bad configuration, a checkpoint that does not match the
        network, or a dataset whose bands or normalization differ from the
        checkpoint's.
    FileExistsError
        When ``out_dir`` already holds a run and the run is not a
        continuation.
    """
    ctx = dist_utils.init_distributed('cuda' if config.device.startswith('cuda') or (
        config.device == 'auto' and torch.cuda.is_available()) else 'cpu')
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        return _train(config, dataset, out_dir=Path(out_dir), resume=resume,
                      callbacks=callbacks, progress=progress, ctx=ctx)
    finally:
        torch.use_deterministic_algorithms(old_deterministic)
        ctx.close()


def _train(config, dataset, *, out_dir, resume, callbacks, progress, ctx):  # noqa: C901
    from tqdm.auto import tqdm

    from .configs import NetworkConfig
    from .networks import build_networks

    t_start = time.perf_counter()
    resume = resume if resume is not None else config.resume
    ckpt = None
    mode = None
    if resume is not None:
        ckpt = load_checkpoint(resume, map_location='cpu')
        if ckpt['kind'] != 'training':
            if config.resume_mode == 'continue':
                msg = (f'{resume}: an exported generator cannot continue a run (no '
                       'discriminator or optimizer states)')
                raise ValueError(msg)
        mode = config.resume_mode
        if mode == 'auto':
            inside = Path(resume).resolve().parent == out_dir.resolve()
            mode = 'continue' if inside and ckpt['kind'] == 'training' else 'finetune'
        if mode == 'finetune' and ckpt['kind'] != 'training':
            msg = f'{resume}: fine-tuning needs a training checkpoint (with D), not a generator'
            raise ValueError(msg)
        check_dataset_compatible(ckpt, dataset)
    saved_net = NetworkConfig.from_dict(ckpt['network_config']) if ckpt is not None else None
    net_cfg, cfg = config.resolve(dataset=dataset, network_config=saved_net,
                                  defaults=ckpt.get('training_config') if ckpt else None)
    cfg.resume = str(resume) if resume is not None else None
    cfg.resume_mode = mode or cfg.resume_mode
    if ckpt is not None:
        check_compatible(ckpt, net_cfg)
    if cfg.batch_size % ctx.world_size:
        msg = (f'batch_size {cfg.batch_size} is not divisible by the number of processes '
               f'{ctx.world_size}')
        raise ValueError(msg)

    device = _pick_device(cfg.device, ctx)
    if device.type == 'cuda':
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = not cfg.deterministic
    amp = device.type == 'cuda' and (cfg.mixed_precision == 'on' or (
        cfg.mixed_precision == 'auto' and torch.cuda.is_bf16_supported()))
    is_main = ctx.is_main

    # ---- output folder
    if is_main:
        check_output_dir(out_dir)
        options = out_dir / 'training_options.json'
        if mode != 'continue' and options.exists():
            msg = (f'{out_dir}: already holds a training run ({options.name}); continue it with '
                   'resume=<its latest.pt>, or choose another output folder')
            raise FileExistsError(msg)
    dist_utils.barrier()

    # ---- networks
    with _seeded_global_rngs(_seed_from(cfg.seed, 0x1417), device):
        G, D = build_networks(net_cfg)
    G.to(device).train()
    D.to(device).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)

    nimg = 0
    step = 0
    growth_offset = 0.0
    best_value = None
    best_kimg = None
    if ckpt is not None:
        path = str(resume)
        load_state_strict(G, ckpt['G'], name='G', path=path)
        load_state_strict(D, ckpt['D'], name='D', path=path)
        load_state_strict(G_ema, ckpt['G_ema'], name='G_ema', path=path)
        prog = ckpt['progress']
        if mode == 'continue':
            nimg = int(prog['nimg'])
            step = int(prog['step'])
            growth_offset = float(prog.get('growth_offset_kimg', 0.0))
            best_value = prog.get('best_value')
            best_kimg = prog.get('best_kimg')
            saved_cfg = ckpt.get('training_config') or {}
            ignore = {'kimg', 'resume', 'resume_mode', 'workers', 'tensorboard', 'device'}
            diffs = [k for k, v in cfg.to_dict().items()
                     if k not in ignore and k in saved_cfg and saved_cfg[k] != v]
            if diffs:
                log.warning('continuing %s with changed settings %s: the run will not be '
                            'identical to an uninterrupted one', path, diffs)
        else:
            growth_offset = float(prog.get('growth_kimg', 0.0))
        log.info('%s %s at kimg %.3f', 'continuing' if mode == 'continue' else 'fine-tuning from',
                 path, float(prog.get('kimg', 0.0)))
    dist_utils.broadcast_module(G)
    dist_utils.broadcast_module(D)
    dist_utils.broadcast_module(G_ema)

    frozen_g, frozen_d = _apply_freezing(G, D, cfg)
    if frozen_g or frozen_d:
        log.info('frozen: %d G parameters, %d D parameters', len(frozen_g), len(frozen_d))

    # ---- augmentation, loss, optimizers
    use_ada = cfg.ada_target > 0
    augment_pipe = None
    ada = None
    if use_ada or cfg.augment_p > 0:
        from .augment import AdaptiveAugment, AugmentPipe

        augment_pipe = AugmentPipe(p=cfg.augment_p, translate=cfg.augment_translate,
                                   rotate45=cfg.augment_rotate45, fill=cfg.augment_fill)
        if use_ada:
            ada = AdaptiveAugment(augment_pipe, target=cfg.ada_target, speed_kimg=cfg.ada_kimg,
                                  interval=cfg.ada_interval)
    loss_obj = _build_loss(cfg, G, D, augment_pipe)
    phases = list(loss_obj.phases)
    params = {'G': _trainable(G), 'D': _trainable(D)}
    if not params['G'] or not params['D']:
        msg = 'nothing to train: every parameter of G or D is frozen'
        raise ValueError(msg)
    opts = {
        'G': _make_optimizer(params['G'], cfg.g_lr, cfg.betas, cfg.eps, phases, 'G'),
        'D': _make_optimizer(params['D'], cfg.d_lr, cfg.betas, cfg.eps, phases, 'D'),
    }
    if ckpt is not None and mode == 'continue':
        _load_opt_state(opts['G'], ckpt['G_opt'], device)
        _load_opt_state(opts['D'], ckpt['D_opt'], device)
        if ada is not None and ckpt.get('augment') is not None:
            ada.load_state_dict(ckpt['augment'])
        elif augment_pipe is not None and ckpt.get('augment_p') is not None:
            augment_pipe.p = float(ckpt['augment_p'])
        if ckpt.get('loss'):
            loss_obj.load_state_dict(ckpt['loss'])
        if ctx.world_size == 1 and ckpt.get('rng') is not None:
            _set_rng_state(ckpt['rng'])

    ema_params = list(G_ema.parameters())
    g_params = list(G.parameters())

    # ---- growth
    progressive = net_cfg.architecture == 'stylegan'

    def growth(nimg_now):
        if not progressive:
            return net_cfg.resolution, 1.0
        return progressive_schedule(
            growth_offset + nimg_now / 1000, start_resolution=cfg.start_resolution,
            final_resolution=net_cfg.resolution, stable_kimg=cfg.lod_training_kimg,
            fade_kimg=cfg.lod_transition_kimg)

    current_growth = None

    def set_growth(nimg_now):
        nonlocal current_growth
        res_alpha = growth(nimg_now)
        if progressive and res_alpha != current_growth:
            for module in (G, D, G_ema):
                module.set_growth(*res_alpha)
        current_growth = res_alpha
        return res_alpha

    # ---- data
    order = _DataOrder(len(dataset), cfg.seed)
    batches = _Batches(dataset, order, seed=cfg.seed, start_step=step,
                       batch_size=cfg.batch_size, rank=ctx.rank, world_size=ctx.world_size,
                       workers=cfg.workers, device=device)

    # ---- bookkeeping
    total_nimg = int(round(cfg.kimg * 1000))
    norm_dict = _normalization_dict(getattr(dataset, 'normalization', None))
    bands = getattr(dataset, 'bands', None)
    bands = [str(b) for b in bands] if bands is not None else None
    snapshots = []
    metrics_log = []
    latest_path = out_dir / 'latest.pt'
    best_path = out_dir / 'best.pt'
    last_good = latest_path if latest_path.exists() else None
    tick_nimg = max(1, int(round(cfg.tick_kimg * 1000)))
    snap_nimg = max(1, int(round(cfg.snapshot_kimg * 1000)))
    metric_nimg = max(1, int(round(cfg.metric_kimg * 1000)))
    grid_z = None
    if cfg.sample_grid:
        grid_gen = torch.Generator().manual_seed(_seed_from(cfg.seed, 0x6121D))
        grid_z = torch.randn(cfg.sample_grid, G.z_dim, generator=grid_gen).to(device)
    train_log = _Log(out_dir, enabled=is_main, tensorboard=cfg.tensorboard,
                     truncate_after=nimg / 1000 if mode == 'continue' else None)
    if is_main:
        _write_json(out_dir / 'training_options.json', {
            'training_config': cfg.to_dict(), 'network_config': net_cfg.to_dict(),
            'dataset': {'size': len(dataset), 'num_channels': int(dataset.num_channels),
                        'resolution': int(dataset.resolution), 'bands': bands,
                        'normalization': norm_dict,
                        'root': str(getattr(dataset, 'root', '')) or None},
            'world_size': ctx.world_size, 'device': str(device),
            'frozen': {'G': frozen_g, 'D': frozen_d}})

    def make_state():
        res, alpha = current_growth
        return {
            'kind': 'training',
            'G': _cpu_state(G), 'D': _cpu_state(D), 'G_ema': _cpu_state(G_ema),
            'G_opt': _opt_state(opts['G']), 'D_opt': _opt_state(opts['D']),
            'augment': ada.state_dict() if ada is not None else None,
            'augment_p': float(augment_pipe.p) if augment_pipe is not None else None,
            'loss': loss_obj.state_dict(),
            'progress': {'nimg': nimg, 'kimg': nimg / 1000, 'step': step,
                         'growth_kimg': growth_offset + nimg / 1000,
                         'growth_offset_kimg': growth_offset,
                         'resolution': int(res), 'alpha': float(alpha),
                         'best_metric': cfg.best_metric, 'best_value': best_value,
                         'best_kimg': best_kimg},
            'rng': _rng_state(),
            'network_config': net_cfg.to_dict(),
            'training_config': cfg.to_dict(),
            'normalization': norm_dict,
            'bands': bands,
            'dataset': {'size': len(dataset), 'num_channels': int(dataset.num_channels),
                        'resolution': int(dataset.resolution)},
            'frozen': {'G': frozen_g, 'D': frozen_d},
            'world_size': ctx.world_size,
        }

    def write_snapshot():
        nonlocal last_good
        data = checkpoint_bytes(make_state())
        path = out_dir / _SNAPSHOT_PATTERN.format(nimg / 1000)
        save_checkpoint(data, path, overwrite=True)
        save_checkpoint(data, latest_path, overwrite=True)
        last_good = latest_path
        snapshots.append(path)
        if cfg.keep_snapshots:
            existing = sorted(out_dir.glob('network-snapshot-*.pt'))
            for old in existing[:-int(cfg.keep_snapshots)]:
                old.unlink()
        if grid_z is not None:
            with torch.no_grad():
                gen = torch.Generator(device=device).manual_seed(cfg.seed)
                images = G_ema(grid_z, noise_mode='const', generator=gen)
            _save_grid(images, out_dir / f'fakes-{nimg / 1000:010.3f}.png')
        log.info('snapshot %s', path.name)
        return data

    def run_metrics():
        """Call the metric callbacks (rank 0); return the values and whether they are the best."""
        nonlocal best_value, best_kimg
        results = {}
        improved = False
        if is_main and callbacks:
            res, alpha = current_growth
            state = {'nimg': nimg, 'step': step, 'resolution': res, 'alpha': alpha,
                     'augment_p': float(augment_pipe.p) if augment_pipe is not None else 0.0,
                     'out_dir': out_dir, 'device': device, 'dataset': dataset,
                     'network_config': net_cfg, 'training_config': cfg}
            for callback in callbacks:
                values = callback(nimg / 1000, G_ema, state) or {}
                results.update({k: _to_float(v) for k, v in values.items()})
            metrics_log.append({'kimg': nimg / 1000} | results)
            name = cfg.best_metric
            if name is not None and name in results and math.isfinite(results[name]):
                value = results[name]
                improved = best_value is None or (value < best_value if cfg.best_mode == 'min'
                                                  else value > best_value)
                if improved:
                    best_value, best_kimg = value, nimg / 1000
            elif name is not None and name not in results:
                log.warning('best_metric %r is not among the metrics %s', name, sorted(results))
        dist_utils.barrier()
        return results, improved

    def write_best(data=None):
        data = data if data is not None else checkpoint_bytes(make_state())
        save_checkpoint(data, best_path, overwrite=True)
        _write_json(out_dir / 'best.json', {'metric': cfg.best_metric, 'value': best_value,
                                            'kimg': best_kimg})
        log.info('new best %s = %.5g at kimg %.3f', cfg.best_metric, best_value, best_kimg)

    # ---- loop
    set_growth(nimg)
    bar = tqdm(total=total_nimg, initial=min(nimg, total_nimg), unit='img', unit_scale=True,
               disable=not (progress and is_main), desc='train', dynamic_ncols=True,
               leave=True)
    sums = {}
    counts = {}
    tick_start_nimg = nimg
    tick_start_time = time.perf_counter()
    record = {}
    last_postfix = 0.0
    if mode != 'continue' and callbacks:
        initial, improved = run_metrics()
        if is_main and initial:
            train_log.write({'kimg': 0.0, 'nimg': 0, 'step': 0} |
                            {f'metric/{k}': v for k, v in initial.items()})
        if is_main and improved:
            write_best()
    dtype = torch.bfloat16
    try:
        while nimg < total_nimg:
            res, alpha = set_growth(nimg)
            reals = batches.next()
            reals = fade_reals(reals, res, alpha) if progressive else reals
            step_seed = _seed_from(cfg.seed, 0x57E9, ctx.rank, step)
            with _seeded_global_rngs(step_seed, device):
                gen = torch.Generator(device=device).manual_seed(step_seed)
                real_logits = []
                for phase, net, interval in phases:
                    if step % interval:
                        continue
                    for p in params['G']:
                        p.requires_grad_(net == 'G')
                    for p in params['D']:
                        p.requires_grad_(net == 'D')
                    opts[net].zero_grad(set_to_none=True)
                    with torch.autocast(device.type, dtype=dtype, enabled=amp):
                        loss, stats = loss_obj.compute(phase, reals, generator=gen)
                    value = dist_utils.all_reduce_mean(loss.detach().float().reshape(1))
                    value = float(value)
                    if not math.isfinite(value):
                        where = (f'last good checkpoint: {last_good}' if last_good is not None
                                 else 'no checkpoint was written yet')
                        msg = (f'non-finite {phase} loss ({value}) at kimg {nimg / 1000:.3f} '
                               f'(step {step}); training stopped; {where}')
                        raise TrainingError(msg)
                    loss.backward()
                    dist_utils.all_reduce_grads(params[net])
                    opts[net].step()
                    key = f'loss/{phase}'
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                    for k, v in (stats or {}).items():
                        if k == 'real_logits':
                            real_logits.append(v.detach())
                            continue
                        if k in ('loss/G', 'loss/D'):  # the same as loss/<phase>
                            continue
                        try:
                            v = _to_float(v)
                        except (TypeError, ValueError):
                            continue
                        sums[f'{phase}/{k}'] = sums.get(f'{phase}/{k}', 0.0) + v
                        counts[f'{phase}/{k}'] = counts.get(f'{phase}/{k}', 0) + 1
                for p in params['G'] + params['D']:
                    p.requires_grad_(True)

            # EMA of G and synchronized buffers (w_avg).
            nimg += cfg.batch_size
            step += 1
            dist_utils.average_buffers(G)
            with torch.no_grad():
                ema_nimg = cfg.ema_kimg * 1000
                if cfg.ema_rampup is not None:
                    ema_nimg = min(ema_nimg, nimg * cfg.ema_rampup)
                beta = 0.5 ** (cfg.batch_size / max(ema_nimg, 1e-8))
                torch._foreach_lerp_(ema_params, g_params, 1.0 - beta)
                for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
                    b_ema.copy_(b)
            if ada is not None and real_logits:
                logits = dist_utils.all_gather_cat(torch.cat(real_logits).float())
                ada.update(logits, cfg.batch_size)
            bar.update(min(nimg, total_nimg) - bar.n)

            # Ticks, snapshots, metrics.
            done = nimg >= total_nimg

            def crossed(every, nimg=nimg, done=done):
                return done or nimg // every > (nimg - cfg.batch_size) // every

            now = time.perf_counter()
            if is_main and progress and now - last_postfix > 1.0:
                last_postfix = now
                bar.set_postfix(_postfix(sums, counts, augment_pipe, record), refresh=False)
            if crossed(tick_nimg):
                seconds = now - tick_start_time
                shown = max(nimg - tick_start_nimg, 1)
                record = {'kimg': nimg / 1000, 'nimg': nimg, 'step': step,
                          'resolution': int(res), 'alpha': float(alpha),
                          'augment_p': float(augment_pipe.p) if augment_pipe is not None
                          else 0.0,
                          'sec_per_kimg': seconds / shown * 1000,
                          'sec_total': now - t_start}
                record |= {k: sums[k] / counts[k] for k in sums}
                if device.type == 'cuda':
                    record['gpu_mem_gb'] = torch.cuda.max_memory_allocated(device) / 2 ** 30
                if ada is not None and ada.rt is not None:
                    record['ada_rt'] = float(ada.rt)
                sums, counts = {}, {}
                # Metrics first, so that the snapshot of this tick records the best value.
                improved = False
                if crossed(metric_nimg) and callbacks:
                    results, improved = run_metrics()
                    record |= {f'metric/{k}': v for k, v in results.items()}
                snapshot_data = None
                if crossed(snap_nimg):
                    # every process checks (the weights are the same everywhere), so that
                    # all of them stop together
                    where = (f'at kimg {nimg / 1000:.3f}; training stopped, no snapshot '
                             f'written; last good checkpoint: {last_good}')
                    _check_finite_module(G, 'G', where)
                    _check_finite_module(D, 'D', where)
                    dist_utils.barrier()
                    snapshot_data = write_snapshot() if is_main else None
                if is_main and improved:
                    write_best(snapshot_data)
                if is_main:
                    train_log.write(record)
                    bar.set_postfix(_postfix({}, {}, augment_pipe, record), refresh=True)
                # Snapshots and metrics do not count in the next tick's seconds per kimg.
                tick_start_nimg, tick_start_time = nimg, time.perf_counter()
    finally:
        bar.close()
        train_log.close()

    dist_utils.barrier()
    seconds = time.perf_counter() - t_start
    log.info('trained to kimg %.3f in %.1f s', nimg / 1000, seconds)
    return TrainingResult(
        out_dir=out_dir, kimg=nimg / 1000,
        latest=latest_path if latest_path.exists() else None,
        best=best_path if best_path.exists() else None, best_value=best_value,
        snapshots=snapshots, metrics=metrics_log, stats=record, seconds=seconds,
        G=G, D=D, G_ema=G_ema)


def _postfix(sums, counts, augment_pipe, record):
    out = {}
    for key in ('loss/Gmain', 'loss/Dmain'):
        if key in sums:
            out[key.split('/')[1]] = f'{sums[key] / counts[key]:.3f}'
        elif key in record:
            out[key.split('/')[1]] = f'{record[key]:.3f}'
    if augment_pipe is not None:
        out['p'] = f'{float(augment_pipe.p):.3f}'
    if 'sec_per_kimg' in record:
        out['s/kimg'] = f'{record["sec_per_kimg"]:.1f}'
    return out
