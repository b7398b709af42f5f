# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``galsynth train``: train, fine-tune or continue training a StyleGAN.

Pre-train on a folder of galaxy FITS products::

    galsynth train --data sim/ --config cpu-64 --kimg 500 --out runs/sim64

Fine-tune from a checkpoint on another folder with frozen early layers (the
dataset is built with the checkpoint's bands, resolution and normalization,
so that the model's output keeps its physical calibration)::

    galsynth train --resume runs/sim64/latest.pt --data sdss/ --freeze-g 1 \\
        --kimg 200 --out runs/sdss64

Continue an interrupted run exactly::

    galsynth train --continue runs/sim64

Export the EMA generator of a checkpoint as the compact file bundled with
the package::

    galsynth train --export runs/sdss64/best.pt --out sdss64.pt --half

The command prints nothing itself but the tqdm progress bar, log messages
(``-v``) and one summary line at the end.
"""

import argparse
import json
import logging
import time
from pathlib import Path

from . import CommandError, nonnegative_int, positive_int

__all__ = ['add_parser', 'run']

log = logging.getLogger(__name__)

METRICS = ('swd', 'none')



def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f'{text!r} must be > 0')
    return value


def _key_value(text):
    if '=' not in text:
        raise argparse.ArgumentTypeError(f'{text!r} is not KEY=VALUE')
    key, value = text.split('=', 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass
    return key.strip(), value


def add_parser(subparsers):
    p = subparsers.add_parser(
        'train', help='train, fine-tune or continue training a StyleGAN',
        description='Train a StyleGAN on a folder of galaxy FITS products (or JPG images), '
                    'fine-tune a checkpoint on another folder with frozen layers (--resume), '
                    'or continue an interrupted run exactly (--continue). Writes '
                    'checkpoints (network-snapshot-*.pt, latest.pt, best.pt), log.jsonl, '
                    'log.csv, training_options.json and fakes-*.png into --out.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group('data')
    g.add_argument('--data', type=Path, default=None,
                   help='folder of galaxy FITS products (or images with --data-kind jpg); '
                        'required except with --continue')
    g.add_argument('--data-kind', choices=('fits', 'jpg'), default='fits',
                   help='FITS galaxy products or 8-bit RGB images (JPG/PNG)')
    g.add_argument('--bands', default=None,
                   help="bands to train on, e.g. 'gri' (default: the products' bands; with "
                        '--resume: the checkpoint\'s)')
    g.add_argument('--resolution', type=positive_int, default=None,
                   help="image size (default: the config's; with --resume: the checkpoint's)")
    g.add_argument('--normalization', choices=('asinh', 'minmax'), default='asinh',
                   help='FITS normalization to [-1, 1] for a new run (see '
                        'galsynth.data.normalization); with --resume the checkpoint\'s is used')
    g.add_argument('--rotate45', action='store_true',
                   help="dataset augmentation: also the method's 45-degree rotations")
    g.add_argument('--no-rotate', action='store_true',
                   help='no dataset rotations/flips (default: random 90-degree rotations and '
                        'flips)')
    g.add_argument('--fill', choices=('reflect', 'constant', 'nearest'), default='reflect',
                   help='fill of the corners of 45-degree rotations')
    g.add_argument('--fit', choices=('crop', 'resize'), default='crop',
                   help='FITS stamps larger than --resolution: centre crop, or crop to a '
                        'square and resample (flux-conserving)')
    g.add_argument('--max-images', type=positive_int, default=None,
                   help='use only the first N files (sorted by path)')
    g.add_argument('--no-cache', action='store_true',
                   help='no cache file of the pre-processed images in the data folder')
    g.add_argument('--workers', type=nonnegative_int, default=0,
                   help='data-loading worker processes (0: main process)')

    g = p.add_argument_group('run')
    g.add_argument('--out', type=Path, default=None,
                   help='run folder (new or empty; required except with --continue)')
    g.add_argument('--config', default=None,
                   help="network preset: cpu-16, cpu-32, cpu-64, gpu-128, gpu-256, paper-256 "
                        "(default cpu-64; with --resume: the checkpoint's network)")
    g.add_argument('--set', type=_key_value, action='append', default=[], metavar='KEY=VALUE',
                   help='override a network field, e.g. --set channel_max=64 (repeatable)')
    g.add_argument('--kimg', type=_positive_float, default=None,
                   help='length of the run in thousands of real images (default 1000; a '
                        'fine-tuning run counts from 0; with --continue: the saved value)')
    g.add_argument('--resume', type=Path, default=None,
                   help='checkpoint to start from: fine-tune it on --data as a new run in '
                        "--out (counter from 0, fresh optimizers), or continue it if it lies "
                        'in --out')
    g.add_argument('--continue', dest='continue_dir', type=Path, default=None,
                   metavar='RUNDIR',
                   help='continue the run in RUNDIR exactly from its latest.pt, with its saved '
                        'settings (only --kimg, --device, --workers may change)')
    g.add_argument('--export', type=Path, default=None, metavar='CKPT',
                   help='do not train: write the G_ema-only file of checkpoint CKPT to --out '
                        '(a .pt file)')
    g.add_argument('--half', action='store_true', help='with --export: float16 weights')
    g.add_argument('--metadata', type=json.loads, default=None,
                   help='with --export: JSON object of extra metadata to store')
    g.add_argument('--overwrite', action='store_true', help='with --export: replace --out')
    g.add_argument('--seed', type=int, default=0, help='random seed of everything')
    g.add_argument('--batch', type=positive_int, default=None,
                   help="global minibatch size (default: the preset's)")
    g.add_argument('--snap', type=_positive_float, default=50.0,
                   help='checkpoint interval in kimg')
    g.add_argument('--tick', type=_positive_float, default=1.0, help='log interval in kimg')
    g.add_argument('--keep-snapshots', type=positive_int, default=None,
                   help='keep only the newest N network-snapshot-*.pt (default: all)')
    g.add_argument('--grid', type=nonnegative_int, default=16,
                   help='G_ema samples saved as fakes-<kimg>.png at each snapshot (0: none)')
    g.add_argument('--metric', choices=METRICS, default='swd',
                   help='quality metric for the log and best.pt: multi-scale sliced '
                        'Wasserstein distance to the data (lower is better), or none')
    g.add_argument('--metric-kimg', type=_positive_float, default=None,
                   help='metric interval in kimg (default: --snap)')
    g.add_argument('--metric-images', type=positive_int, default=256,
                   help='real and generated images per metric evaluation')

    g = p.add_argument_group('fine-tuning')
    g.add_argument('--freeze-g', type=nonnegative_int, default=0,
                   help='freeze the first N synthesis layers of G (the method uses 1)')
    g.add_argument('--freeze-g-blocks', type=nonnegative_int, default=0,
                   help='freeze the first N synthesis blocks of G (4x4, 8x8, ...)')
    g.add_argument('--freeze-d', type=nonnegative_int, default=0,
                   help='freeze the first N discriminator blocks (FreezeD)')
    g.add_argument('--freeze-mapping', action='store_true', help='also freeze the mapping network')

    g = p.add_argument_group('optimization (default: the preset\'s or the checkpoint\'s)')
    g.add_argument('--loss', choices=('r1', 'wgangp'), default=None,
                   help='non-saturating loss with lazy R1, or WGAN-GP (the method\'s)')
    g.add_argument('--r1-gamma', type=float, default=None, help='R1 weight')
    g.add_argument('--gp-lambda', type=float, default=None, help='WGAN-GP penalty weight')
    g.add_argument('--lr', type=_positive_float, default=None, help='learning rate of G and D')
    g.add_argument('--g-lr', type=_positive_float, default=None, help='learning rate of G')
    g.add_argument('--d-lr', type=_positive_float, default=None, help='learning rate of D')
    g.add_argument('--ema-kimg', type=_positive_float, default=None,
                   help='half-life of the G moving average in kimg')
    g.add_argument('--mixing', type=float, default=None, help='style-mixing probability')
    g.add_argument('--ada-target', type=float, default=None,
                   help='adaptive augmentation target (0 disables ADA)')
    g.add_argument('--ada-kimg', type=_positive_float, default=None,
                   help='ADA speed: kimg for p to go from 0 to 1')
    g.add_argument('--augment-p', type=float, default=0.0,
                   help='initial (or, without ADA, fixed) augmentation probability')
    g.add_argument('--lod-kimg', type=float, default=None,
                   help="progressive growing ('stylegan'): kimg per resolution")
    g.add_argument('--fade-kimg', type=float, default=None,
                   help="progressive growing ('stylegan'): kimg per fade-in")

    g = p.add_argument_group('hardware')
    g.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda', 'cuda:1', ...")
    g.add_argument('--mixed-precision', choices=('auto', 'on', 'off'), default='auto',
                   help='bfloat16 autocast (auto: on CUDA only)')
    g.add_argument('--deterministic', action='store_true',
                   help='deterministic algorithms (bit-reproducible on one machine)')
    g.add_argument('--threads', type=positive_int, default=None,
                   help='torch CPU threads (default: torch\'s)')
    g.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.set_defaults(func=run)
    return p


def _make_dataset(args, *, data, bands, resolution, normalization):
    from ..data import datasets

    augment = None
    if not args.no_rotate:
        from ..data.augment import Augment

        augment = Augment(rotate45=args.rotate45, fill=args.fill, seed=args.seed)
    common = {'resolution': resolution, 'augment': augment, 'cache': not args.no_cache,
              'max_images': args.max_images, 'progress': not args.no_progress}
    if args.data_kind == 'jpg':
        return datasets.ImageFolderDataset(data, **common)
    kwargs = common | {'normalization': normalization, 'fit': args.fit}
    if bands is not None:
        kwargs['bands'] = ''.join(bands)
    return datasets.GalaxyFITSDataset(data, **kwargs)


def _dataset_options(args, data):
    return {'root': str(Path(data).resolve()), 'kind': args.data_kind,
            'rotate': not args.no_rotate, 'rotate45': bool(args.rotate45), 'fill': args.fill,
            'cache': not args.no_cache, 'fit': args.fit, 'max_images': args.max_images}


def run(args):
    import torch

    from ..stylegan.checkpoint import load_checkpoint
    from ..stylegan.training import SlicedWassersteinMetric, TrainingConfig, train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export is not None:
        return _export(args)
    ckpt = None
    if args.continue_dir is not None:
        run_dir = args.continue_dir
        latest = run_dir / 'latest.pt'
        if not latest.is_file():
            raise CommandError(f'{run_dir}: no latest.pt to continue from')
        if args.out is not None and args.out.resolve() != run_dir.resolve():
            raise CommandError('--continue writes into its own run folder; drop --out')
        ckpt = load_checkpoint(latest)
        saved = dict(ckpt['training_config'])
        saved.update(resume=str(latest), resume_mode='continue', device=args.device,
                     workers=args.workers)
        if args.kimg is not None:
            saved['kimg'] = args.kimg
        config = TrainingConfig.from_dict(saved)
        recorded = saved.get('dataset_options') or {}
        data = args.data or recorded.get('root')
        if not data:
            raise CommandError(f'{run_dir}: the data folder is not recorded; pass --data')
        args.data_kind = recorded.get('kind', args.data_kind)
        args.no_rotate = not recorded.get('rotate', not args.no_rotate)
        args.rotate45 = recorded.get('rotate45', args.rotate45)
        args.fill = recorded.get('fill', args.fill)
        args.no_cache = not recorded.get('cache', not args.no_cache)
        args.fit = recorded.get('fit', args.fit)
        args.max_images = recorded.get('max_images', args.max_images)
        dataset = _dataset_for_checkpoint(args, ckpt, Path(data))
        out = run_dir
    else:
        if args.data is None or args.out is None:
            raise CommandError('--data and --out are required (except with --continue)')
        out = args.out
        if args.resume is not None:
            ckpt = load_checkpoint(args.resume)
            dataset = _dataset_for_checkpoint(args, ckpt, args.data)
        else:
            from ..stylegan.configs import get_config

            name = args.config or 'cpu-64'
            net, _ = get_config(name, **dict(args.set))
            resolution = args.resolution or net.resolution
            bands = args.bands
            dataset = _make_dataset(args, data=args.data, bands=bands, resolution=resolution,
                                    normalization=args.normalization)
        overrides = dict(args.set)
        if args.resolution is not None and ckpt is None:
            overrides['resolution'] = args.resolution
        config = TrainingConfig(
            network=args.config or ('cpu-64' if ckpt is None else None),
            network_overrides=overrides,
            kimg=args.kimg if args.kimg is not None else 1000.0,
            batch_size=args.batch, g_lr=args.g_lr or args.lr, d_lr=args.d_lr or args.lr,
            loss=args.loss, r1_gamma=args.r1_gamma, gp_lambda=args.gp_lambda,
            ema_kimg=args.ema_kimg, style_mixing_prob=args.mixing,
            ada_target=args.ada_target, ada_kimg=args.ada_kimg, augment_p=args.augment_p,
            lod_training_kimg=args.lod_kimg, lod_transition_kimg=args.fade_kimg,
            dataset_options=_dataset_options(args, args.data), snapshot_kimg=args.snap,
            metric_kimg=args.metric_kimg, tick_kimg=args.tick,
            best_metric='swd' if args.metric == 'swd' else None,
            keep_snapshots=args.keep_snapshots, sample_grid=args.grid, seed=args.seed,
            device=args.device, deterministic=args.deterministic,
            mixed_precision=args.mixed_precision, freeze_g=args.freeze_g,
            freeze_g_blocks=args.freeze_g_blocks, freeze_d=args.freeze_d,
            freeze_mapping=True if args.freeze_mapping else None,
            resume=str(args.resume) if args.resume is not None else None,
            workers=args.workers)
    if len(dataset) == 0:
        raise CommandError(f'{args.data}: no images found')
    callbacks = []
    if (args.metric if args.continue_dir is None else
            ('swd' if config.best_metric == 'swd' else 'none')) == 'swd':
        callbacks.append(SlicedWassersteinMetric(dataset, num_images=args.metric_images,
                                                 seed=config.seed))
    t0 = time.perf_counter()
    result = train(config, dataset, out_dir=out, callbacks=callbacks,
                   progress=not args.no_progress)
    hours = (time.perf_counter() - t0) / 3600
    best = ''
    if result.best_value is not None:
        best = f'; best {config.best_metric} {result.best_value:.4g} ({result.best})'
    print(f'galsynth train: {result.kimg:.3f} kimg in {hours:.2f} h -> {result.latest}{best}')
    return 0


def _dataset_for_checkpoint(args, ckpt, data):
    """The dataset of a fine-tuning or continued run: the checkpoint's bands,
    resolution and normalization."""
    net = ckpt['network_config']
    resolution = int(net['resolution'])
    if args.resolution is not None and args.resolution != resolution:
        raise CommandError(f'{ckpt["path"]}: the checkpoint makes {resolution}x{resolution} '
                           f'images; --resolution {args.resolution} does not fit')
    bands = ckpt.get('bands')
    if args.bands is not None and bands is not None and tuple(args.bands) != tuple(bands):
        raise CommandError(f'{ckpt["path"]}: the checkpoint was trained on bands '
                           f'{"".join(bands)!r}, not {args.bands!r}')
    normalization = None
    if args.data_kind == 'fits':
        saved = ckpt.get('normalization')
        if saved is None:
            raise CommandError(f'{ckpt["path"]}: the checkpoint records no normalization')
        from ..data.normalization import Normalization

        normalization = Normalization.from_dict(saved)
    return _make_dataset(args, data=data, bands=bands, resolution=resolution,
                         normalization=normalization)


def _export(args):
    from ..stylegan.checkpoint import export_generator

    if args.out is None:
        raise CommandError('--export needs --out (the file to write)')
    if args.metadata is not None and not isinstance(args.metadata, dict):
        raise CommandError('--metadata must be a JSON object')
    if args.out.exists() and not args.overwrite:
        raise CommandError(f'{args.out} exists; use --overwrite to replace it')
    info = export_generator(args.export, args.out, metadata=args.metadata, half=args.half,
                            overwrite=args.overwrite)
    print(f'galsynth train: exported {args.export} -> {info["path"]} '
          f'({info["bytes"] / 1e6:.1f} MB, sha256 {info["sha256"]})')
    return 0
