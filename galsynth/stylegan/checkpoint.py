# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
StyleGAN checkpoints: save, load, validate, export.

A checkpoint is a `torch.save` file of plain data only (tensors, dicts,
lists, strings, numbers), so that it loads with ``torch.load(...,
weights_only=True)`` and never executes code. It holds everything needed to
resume a run exactly (network, EMA generator and optimizer states, the
augmentation state, the progressive-growing phase, the image counter) plus
what a user of the generator needs to turn its output back into physical
units: the network configuration, the training configuration, the dataset's
bands and its normalization.

Two kinds of file share the format:

``'training'``
    written by `galsynth.stylegan.training.train` (``network-snapshot-*.pt``,
    ``latest.pt``, ``best.pt``);
``'generator'``
    the compact, EMA-generator-only file made by `export_generator` for
    bundling with the package.

Both are read by `load_generator`.
"""

import hashlib
import io
import logging
import math
import pickle
import warnings
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import torch

from ..utils.io import atomic_write_bytes

__all__ = [
    'CHECKPOINT_FORMAT',
    'CHECKPOINT_VERSION',
    'save_checkpoint',
    'checkpoint_bytes',
    'load_checkpoint',
    'check_compatible',
    'check_dataset_compatible',
    'load_state_strict',
    'load_generator',
    'export_generator',
    'file_sha256',
]

log = logging.getLogger(__name__)

#: Value of the ``'format'`` key of every galsynth StyleGAN checkpoint.
CHECKPOINT_FORMAT = 'galsynth-stylegan-checkpoint'
#: Version of the checkpoint layout written by this module.
CHECKPOINT_VERSION = 1

_REQUIRED = {
    'training': ('G', 'D', 'G_ema', 'network_config', 'training_config', 'progress'),
    'generator': ('G_ema', 'network_config', 'progress'),
}

#: Network-configuration keys that do not change the parameters' shapes or
#: meaning and may differ between a checkpoint and a fine-tuning run.
NON_STRUCTURAL_KEYS = ()


def _software():
    from .. import __version__
    return {'galsynth': str(__version__), 'torch': str(torch.__version__)}


def _plain(obj, where='checkpoint'):
    """Check (recursively) that ``obj`` holds only weights_only-loadable types."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor, torch.Size,
                                       torch.dtype)):
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                msg = f'{where}: key {key!r} is not a str or int'
                raise TypeError(msg)
            _plain(value, f'{where}[{key!r}]')
        return
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _plain(value, f'{where}[{i}]')
        return
    msg = (f'{where}: {type(obj).__name__} cannot be stored in a checkpoint '
           '(plain tensors, numbers, strings, lists and dicts only)')
    raise TypeError(msg)


def checkpoint_bytes(state):
    """
    Serialize a checkpoint dictionary to bytes (`torch.save` format).

    Parameters
    ----------
    state : dict
        The checkpoint content; ``'format'``, ``'format_version'``,
        ``'software'`` and ``'created'`` are added when absent.

    Returns
    -------
    bytes

    Raises
    ------
    TypeError
        If ``state`` holds anything but plain data (which could not be read
        back with ``weights_only=True``).
    """
    state = dict(state)
    state.setdefault('format', CHECKPOINT_FORMAT)
    state.setdefault('format_version', CHECKPOINT_VERSION)
    state.setdefault('kind', 'training')
    state.setdefault('software', _software())
    state.setdefault('created', datetime.now(UTC).isoformat(timespec='seconds'))
    _plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save_checkpoint(state, path, *, overwrite=False):
    """
    Write a checkpoint atomically.

    The file is written to a temporary name in the destination folder and
    renamed over ``path`` only when complete: an interrupted write never
    leaves a truncated checkpoint and never damages the previous one.

    Parameters
    ----------
    state : dict or bytes
        The checkpoint content (see `checkpoint_bytes`) or its serialized bytes.
    path : str or `~pathlib.Path`
        Destination.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : `~pathlib.Path`
    """
    data = state if isinstance(state, bytes) else checkpoint_bytes(state)
    atomic_write_bytes(path, data, overwrite=overwrite)
    return Path(path)


def file_sha256(path):
    """
    SHA-256 hex digest of a file.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(path, *, map_location='cpu'):
    """
    Read and validate a checkpoint (``weights_only=True``: no code is run).

    Parameters
    ----------
    path : str or `~pathlib.Path`
        A training checkpoint or an exported generator.
    map_location : str or `torch.device`, optional
        Where to put the tensors (default CPU).

    Returns
    -------
    ckpt : dict

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file, if it is not a readable galsynth checkpoint
        (truncated, corrupt, another program's file, or missing entries).
    """
    path = Path(path)
    if not path.is_file():
        msg = f'{path}: checkpoint not found'
        raise FileNotFoundError(msg)
    try:
        with warnings.catch_warnings():
            # a plain pickle (not a torch file) is refused below; no need to warn about it
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError,
            KeyError, AttributeError, TypeError, IndexError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f'{path}: not a readable galsynth checkpoint (corrupt or truncated file: {first})'
        raise ValueError(msg) from None
    if not isinstance(ckpt, dict) or ckpt.get('format') != CHECKPOINT_FORMAT:
        msg = f'{path}: not a galsynth StyleGAN checkpoint (no {CHECKPOINT_FORMAT!r} marker)'
        raise ValueError(msg)
    version = ckpt.get('format_version')
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        msg = (f'{path}: checkpoint format version {version!r} is newer than this galsynth '
               f'understands ({CHECKPOINT_VERSION}); upgrade galsynth')
        raise ValueError(msg)
    kind = ckpt.get('kind')
    if kind not in _REQUIRED:
        msg = f'{path}: unknown checkpoint kind {kind!r}'
        raise ValueError(msg)
    missing = [key for key in _REQUIRED[kind] if key not in ckpt]
    if missing:
        msg = f'{path}: incomplete {kind} checkpoint, missing {", ".join(missing)}'
        raise ValueError(msg)
    ckpt['path'] = str(path)
    return ckpt


def _as_dict(config):
    if config is None:
        return None
    if isinstance(config, dict):
        return dict(config)
    return config.to_dict()


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_compatible(ckpt, network_config, *, ignore=NON_STRUCTURAL_KEYS):
    """
    Refuse a checkpoint whose network does not match a configuration.

    Every key of the two network configurations is compared (architecture,
    resolution, ``img_channels``, ``z_dim``, ``w_dim``, ``mapping_layers``,
    ``channel_base``, ``channel_max``, ...), and all mismatches are reported
    together, so that a checkpoint never loads partially into a different
    network (for instance an 8-layer mapping network into a 2-layer one).

    Parameters
    ----------
    ckpt : dict
        From `load_checkpoint`.
    network_config : `~galsynth.stylegan.configs.NetworkConfig` or dict
        The requested configuration.
    ignore : iterable of str, optional
        Keys allowed to differ.

    Raises
    ------
    ValueError
        Listing every mismatching key with both values, and naming the file.
    """
    saved = _as_dict(ckpt['network_config'])
    wanted = _as_dict(network_config)
    ignore = set(ignore)
    problems = []
    for key in sorted(set(saved) | set(wanted)):
        if key in ignore:
            continue
        if key not in saved:
            problems.append(f'{key}: absent from checkpoint, requested {wanted[key]!r}')
        elif key not in wanted:
            problems.append(f'{key}: checkpoint has {saved[key]!r}, absent from request')
        elif not _same(saved[key], wanted[key]):
            problems.append(f'{key}: checkpoint {saved[key]!r} != requested {wanted[key]!r}')
    if problems:
        where = ckpt.get('path', 'checkpoint')
        msg = (f'{where}: checkpoint network does not match the requested configuration '
               f'({len(problems)} mismatch{"es" if len(problems) > 1 else ""}): '
               + '; '.join(problems))
        raise ValueError(msg)


def check_dataset_compatible(ckpt, dataset):
    """
    Refuse a dataset whose bands or normalization differ from a checkpoint's.

    Parameters
    ----------
    ckpt : dict
        From `load_checkpoint`.
    dataset : dataset
        With attributes ``num_channels``, ``bands`` and ``normalization``.

    Raises
    ------
    ValueError
        Naming the checkpoint, listing the differences, and saying how to
        build a dataset that matches (pass the checkpoint's normalization:
        ``normalization=Normalization.from_dict(ckpt['normalization'])``).
    """
    where = ckpt.get('path', 'checkpoint')
    problems = []
    saved_channels = _as_dict(ckpt['network_config']).get('img_channels')
    channels = getattr(dataset, 'num_channels', None)
    if saved_channels is not None and channels is not None and channels != saved_channels:
        problems.append(f'band count: checkpoint {saved_channels} != dataset {channels}')
    saved_bands = ckpt.get('bands')
    bands = getattr(dataset, 'bands', None)
    if saved_bands is not None and bands is not None and tuple(saved_bands) != tuple(bands):
        problems.append(f'bands: checkpoint {"".join(map(str, saved_bands))!r} != dataset '
                        f'{"".join(map(str, bands))!r}')
    if problems:
        msg = f'{where}: dataset does not match the checkpoint: ' + '; '.join(problems)
        raise ValueError(msg)
    saved_norm = ckpt.get('normalization')
    norm = _normalization_dict(getattr(dataset, 'normalization', None))
    if saved_norm is not None and norm is not None and not _same_tree(saved_norm, norm):
        diffs = _tree_diff(saved_norm, norm)
        msg = (f'{where}: dataset normalization differs from the checkpoint\'s '
               f'({"; ".join(diffs)}); build the dataset with the checkpoint\'s normalization, '
               "normalization=Normalization.from_dict(ckpt['normalization']) "
               '(galsynth train --resume does this)')
        raise ValueError(msg)


def _normalization_dict(norm):
    if norm is None:
        return None
    if isinstance(norm, dict):
        return norm
    if isinstance(norm, str):
        return {'kind': norm}
    return norm.to_dict()


def _same_tree(a, b):
    return not _tree_diff(a, b)


def _tree_diff(a, b, prefix=''):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            name = f'{prefix}{key}'
            if key not in a:
                out.append(f'{name}: absent from checkpoint')
            elif key not in b:
                out.append(f'{name}: absent from dataset')
            else:
                out.extend(_tree_diff(a[key], b[key], f'{name}.'))
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(_tree_diff(x, y, f'{prefix}{i}.'))
        return out
    if _same(a, b):
        return []
    return [f'{prefix.rstrip(".")}: checkpoint {a!r} != dataset {b!r}']


def load_state_strict(module, state, *, name, path='checkpoint'):
    """
    ``module.load_state_dict(state, strict=True)`` with a readable error.

    Parameters
    ----------
    module : `torch.nn.Module`
    state : dict
    name : str
        What the module is ('G', 'D', 'G_ema'), for the message.
    path : str, optional
        The file, for the message.

    Raises
    ------
    ValueError
        Listing missing and unexpected entries and shape mismatches.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}' for k in own
              if k in state and hasattr(state[k], 'shape') and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f'missing {", ".join(missing[:10])}'
                        + (f' (+{len(missing) - 10} more)' if len(missing) > 10 else ''))
    if unexpected:
        problems.append(f'unexpected {", ".join(unexpected[:10])}'
                        + (f' (+{len(unexpected) - 10} more)' if len(unexpected) > 10 else ''))
    if shapes:
        problems.append(f'shape mismatch {", ".join(shapes[:10])}'
                        + (f' (+{len(shapes) - 10} more)' if len(shapes) > 10 else ''))
    if problems:
        msg = f'{path}: {name} weights do not fit the network: ' + '; '.join(problems)
        raise ValueError(msg)
    module.load_state_dict(state, strict=True)


def _set_growth(module, progress):
    if progress is None or not hasattr(module, 'set_growth'):
        return
    resolution = progress.get('resolution')
    alpha = progress.get('alpha', 1.0)
    if resolution is not None:
        module.set_growth(int(resolution), float(alpha))


def load_generator(path, *, device='cpu'):
    """
    Load the EMA generator of a checkpoint or exported generator file.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        A training checkpoint or a file from `export_generator`.
    device : str or `torch.device`, optional
        Where to put the network.

    Returns
    -------
    G_ema : `torch.nn.Module`
        In eval mode, without gradients, float32; for the progressive
        ``'stylegan'`` architecture set to the growth stage it was saved at.
    meta : dict
        ``network_config`` (dict), ``normalization`` (dict or None),
        ``bands`` (list or None), ``resolution`` (the image size it makes),
        ``img_channels``, ``kimg``, ``sha256`` (of the file),
        ``training_config`` (dict or None), ``metadata`` (dict, from
        `export_generator`), ``path``, ``kind``.

    Raises
    ------
    ValueError
        Naming the file, if it is not a valid checkpoint or the weights do
        not fit the network it describes.
    """
    from .configs import NetworkConfig
    from .networks import build_networks

    ckpt = load_checkpoint(path, map_location='cpu')
    config = NetworkConfig.from_dict(ckpt['network_config'])
    G, _ = build_networks(config)
    state = {k: (v.float() if torch.is_tensor(v) and v.dtype == torch.float16 else v)
             for k, v in ckpt['G_ema'].items()}
    load_state_strict(G, state, name='G_ema', path=str(path))
    progress = ckpt.get('progress') or {}
    _set_growth(G, progress)
    G.eval().requires_grad_(False).to(device)
    resolution = int(progress.get('resolution') or _as_dict(ckpt['network_config'])['resolution'])
    meta = {
        'path': str(path),
        'kind': ckpt['kind'],
        'network_config': _as_dict(ckpt['network_config']),
        'training_config': ckpt.get('training_config'),
        'normalization': ckpt.get('normalization'),
        'bands': list(ckpt['bands']) if ckpt.get('bands') is not None else None,
        'img_channels': _as_dict(ckpt['network_config']).get('img_channels'),
        'resolution': resolution,
        'kimg': float(progress.get('kimg', 0.0)),
        'sha256': file_sha256(path),
        'metadata': ckpt.get('metadata') or {},
        'software': ckpt.get('software'),
    }
    return G, meta


def export_generator(ckpt_path, out_path, *, metadata=None, half=False, overwrite=False):
    """
    Write a compact file holding only the EMA generator and its metadata.

    The result loads with `load_generator` like a training checkpoint, but
    without the discriminator, the training generator and the optimizer
    states (about a sixth of the size; half of that again with ``half=True``).

    Parameters
    ----------
    ckpt_path : str or `~pathlib.Path`
        A training checkpoint (or an exported generator).
    out_path : str or `~pathlib.Path`
        Destination (``.pt``).
    metadata : dict, optional
        Extra JSON-like information to store (model card fields, data
        provenance, ...).
    half : bool, optional
        Store float32 weights as float16 (they are converted back to
        float32 on load).
    overwrite : bool, optional
        Replace an existing ``out_path``.

    Returns
    -------
    info : dict
        ``path``, ``sha256``, ``bytes``.
    """
    ckpt = load_checkpoint(ckpt_path, map_location='cpu')
    state = {}
    for key, value in ckpt['G_ema'].items():
        value = value.detach().clone()
        if half and value.dtype == torch.float32:
            value = value.half()
        state[key] = value
    progress = dict(ckpt.get('progress') or {})
    keep = {k: progress[k] for k in ('kimg', 'nimg', 'resolution', 'alpha', 'growth_kimg')
            if k in progress}
    out = {
        'kind': 'generator',
        'G_ema': state,
        'network_config': _as_dict(ckpt['network_config']),
        'training_config': ckpt.get('training_config'),
        'normalization': ckpt.get('normalization'),
        'bands': ckpt.get('bands'),
        'progress': keep,
        'metadata': dict(ckpt.get('metadata') or {}) | dict(metadata or {}),
        'source': {'file': Path(ckpt_path).name, 'sha256': file_sha256(ckpt_path)},
    }
    data = checkpoint_bytes(out)
    save_checkpoint(data, out_path, overwrite=overwrite)
    info = {'path': Path(out_path), 'sha256': hashlib.sha256(data).hexdigest(),
            'bytes': len(data)}
    log.info('exported generator %s (%.1f MB, sha256 %s)', out_path, len(data) / 1e6,
             info['sha256'][:12])
    return info
