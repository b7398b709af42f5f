# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The recipe of galsynth's bundled default model (``sdss-gri-64``).

The method's two stages, with the galsynth command line:

1. ``simulate``  – 4,000 simulated 64×64 g, r, i galaxies (the GalSim
   simulator, population preset ``training``), standing in for Illustris;
2. ``extract``   – real 64×64 stamps of the galaxies in the shared SDSS frames
   (resolved galaxies: r50 ≥ 1.2″ and ≥ 1.6 × the PSF's), split by field into
   a fine-tuning set and a held-out set (fields 004510-4-0030 and
   007264-3-0111) for the evaluation;
3. ``train``     – pre-train a StyleGAN2 (``cpu-64`` with ``channel_base=2048``)
   on the simulations, with the method's 45° rotations (constant fill) and
   ADA, keeping the snapshot with the best sliced-Wasserstein distance;
4. ``train --resume`` – fine-tune on the real stamps for each freezing depth
   in ``--freeze`` (45° rotations with reflect fill, ADA, EMA half-life
   0.5 kimg);
5. ``generate`` + ``evaluate`` – judge every fine-tuned model against the
   held-out real stamps (CMD acceptance, property distances, FID when
   installed; memorization against the fine-tuning stamps);
6. keep the best by the mean 1-D Wasserstein distance of the physical
   properties, export its EMA generator (fp16) into ``galsynth/models/`` and
   write the model card JSON beside it.

Every step is skipped when its output exists, so an interrupted recipe
continues where it stopped (training itself resumes exactly with
``galsynth train --continue``). Run::

    python examples/train_default_model.py --work /tmp/galsynth-model \\
        --frames ../shared/data/sdss_frames --pretrain-kimg 10 --finetune-kimg 4
"""

import argparse
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger('train_default_model')

REPO = Path(__file__).resolve().parents[1]
NAME = 'sdss-gri-64'
NETWORK = ['--config', 'cpu-64', '--set', 'channel_base=2048']
HELDOUT_FIELDS = ('004510-4-0030', '007264-3-0111')


def sh(*args, skip_if=None):
    """Run a galsynth command unless ``skip_if`` exists."""
    if skip_if is not None and Path(skip_if).exists():
        log.info('skip (exists: %s): galsynth %s', skip_if, ' '.join(map(str, args)))
        return
    cmd = [sys.executable, '-m', 'galsynth', '-v', *map(str, args)]
    log.info('run: %s', ' '.join(cmd[2:]))
    subprocess.run(cmd, check=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work', type=Path, required=True, help='working folder')
    p.add_argument('--frames', type=Path, default=REPO.parent / 'shared' / 'data' / 'sdss_frames',
                   help='folder of SDSS frame folders')
    p.add_argument('--n-sim', type=int, default=4000, help='simulated galaxies')
    p.add_argument('--pretrain-kimg', type=float, default=10.0, help='pre-training length')
    p.add_argument('--finetune-kimg', type=float, default=4.0, help='fine-tuning length')
    p.add_argument('--freeze', default='1,4', help='freezing depths (synthesis layers) to try')
    p.add_argument('--n-eval', type=int, default=100, help='galaxies generated per evaluation')
    p.add_argument('--redshift', type=float, default=0.05,
                   help='redshift assumed for the real stamps (no spectra offline) and the '
                        'generated galaxies in the CMD test')
    p.add_argument('--threads', type=int, default=2, help='torch threads')
    p.add_argument('--jobs', type=int, default=2, help='processes for simulate/measure')
    p.add_argument('--install', action='store_true',
                   help='write the chosen model into galsynth/models/ (else WORK/model)')
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    sim, real, runs = work / 'sim64', work / 'sdss64', work / 'runs'
    train_set, heldout = work / 'sdss64_train', work / 'sdss64_heldout'

    sh('simulate', '-n', args.n_sim, '-o', sim, '--size', 64, '--bands', 'gri', '--seed', 1,
       '--preset', 'training', '--jobs', args.jobs, skip_if=sim / 'catalog.ecsv')
    sh('extract', args.frames, '-o', real, '--size', 64, '--bands', 'gri',
       '--size-ratio', 1.6, '--min-r50', 1.2, skip_if=real / 'catalog.ecsv')
    split_fields(real, train_set, heldout)
    sh('train', '--data', sim, '--bands', 'gri', '--resolution', 64, *NETWORK,
       '--kimg', args.pretrain_kimg, '--rotate45', '--fill', 'constant', '--snap', 2,
       '--tick', 0.5, '--seed', 1, '--threads', args.threads,
       '--out', runs / 'pretrain', skip_if=runs / 'pretrain' / 'best.pt')

    results = {}
    for depth in [int(d) for d in args.freeze.split(',')]:
        run = runs / f'finetune-freeze{depth}'
        sh('train', '--resume', runs / 'pretrain' / 'best.pt', '--data', train_set,
           '--freeze-g', depth, '--kimg', args.finetune_kimg, '--rotate45', '--fill', 'reflect',
           '--ema-kimg', 0.5, '--ada-kimg', 20, '--snap', 0.5, '--tick', 0.25, '--seed', 1,
           '--threads', args.threads, '--out', run, skip_if=run / 'best.pt')
        gen_dir = work / f'generated-freeze{depth}'
        sh('generate', '--model', run / 'best.pt', '-n', args.n_eval, '-o', gen_dir,
           '--seed', 1, '--no-progress', skip_if=gen_dir / 'catalog.ecsv')
        report = work / f'report-freeze{depth}'
        sh('evaluate', '--real', heldout, '--generated', gen_dir, '--train', train_set,
           '--redshift', args.redshift, '-o', report, '-j', args.jobs,
           skip_if=report / 'metrics.json')
        results[depth] = json.loads((report / 'metrics.json').read_text())
        log.info('freeze %d: %s', depth, {k: results[depth].get(k) for k in
                                          ('fid', 'wasserstein_mean', 'cmd_acceptance')})

    best = min(results, key=lambda d: results[d]['wasserstein_mean'])
    out_dir = REPO / 'galsynth' / 'models' if args.install else work / 'model'
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f'{NAME}.pt'
    sh('train', '--export', runs / f'finetune-freeze{best}' / 'best.pt', '--out', weights,
       '--half', '--overwrite', '--metadata', json.dumps({'name': NAME}))
    write_card(weights, work=work, best=best, results=results, args=args)
    log.info('kept freeze depth %d -> %s', best, weights)


def split_fields(real, train_set, heldout):
    """Copy the stamps of each field into the fine-tuning or the held-out folder."""
    if train_set.exists() and heldout.exists():
        return
    for field in sorted(p for p in real.iterdir() if p.is_dir()):
        dest = heldout if field.name in HELDOUT_FIELDS else train_set
        dest.mkdir(parents=True, exist_ok=True)
        for stamp in field.glob('*.fits'):
            (dest / field.name).mkdir(exist_ok=True)
            (dest / field.name / stamp.name).write_bytes(stamp.read_bytes())


def write_card(weights, *, work, best, results, args):
    """Write the model card JSON beside the weights."""
    import numpy as np

    from galsynth.models import sha256_of
    from galsynth.products import galaxy_cube, read_galaxy
    from galsynth.stylegan.checkpoint import load_generator

    _, meta = load_generator(weights)
    real_files = sorted((work / 'sdss64_train').rglob('*.fits'))
    heldout_files = sorted((work / 'sdss64_heldout').rglob('*.fits'))
    cube = np.stack([galaxy_cube(read_galaxy(f), 'gri') for f in real_files])
    logs = {}
    for name in ['pretrain', f'finetune-freeze{best}']:
        best_json = work / 'runs' / name / 'best.json'
        logs[name] = json.loads(best_json.read_text()) if best_json.exists() else {}
    card = {
        'name': NAME,
        'sha256': sha256_of(weights),
        'file_bytes': weights.stat().st_size,
        'created': datetime.now(UTC).isoformat(timespec='seconds'),
        'bands': meta['bands'],
        'resolution': meta['resolution'],
        'pixel_scale_arcsec': 0.396127,
        'architecture': meta['network_config']['architecture'],
        'network_config': meta['network_config'],
        'normalization': meta['normalization'],
        'training_data': {
            'pretrain': f'{args.n_sim} simulated galaxies (galsynth simulate, preset training, '
                        'seed 1), 64x64 gri, 45-degree rotations with constant fill + flips',
            'finetune': f'{len(real_files)} real SDSS stamps (galsynth extract on the shared '
                        'frames, 5 fields), 64x64 gri, 45-degree rotations with reflect fill '
                        '+ flips',
            'heldout': f'{len(heldout_files)} real SDSS stamps of fields '
                       f'{", ".join(HELDOUT_FIELDS)}, used only for the evaluation',
            'n_real_stamps': len(real_files),
            'n_heldout_stamps': len(heldout_files),
            'pixel_range_nanomaggy': [float(np.percentile(cube, 0.1)),
                                      float(np.percentile(cube, 99.9))],
        },
        'stages': {
            'pretrain_kimg': args.pretrain_kimg,
            'finetune_kimg': args.finetune_kimg,
            'pretrain_best': logs['pretrain'],
            'finetune_best': logs[f'finetune-freeze{best}'],
        },
        'evaluation': {'real': f'{len(heldout_files)} held-out stamps', 'n_generated': args.n_eval,
                       'redshift_assumed': args.redshift,
                       'note': 'no spectroscopic redshifts offline: the real stamps and the '
                               'generated galaxies are all placed at the assumed redshift'},
        'freezing': {'compared_freeze_g': sorted(results), 'chosen_freeze_g': best,
                     'selection': 'lowest wasserstein_mean against the real stamps'},
        'metrics': {str(d): {k: results[d].get(k) for k in (
            'fid', 'kid', 'cmd_acceptance', 'cmd_acceptance_real_baseline',
            'cmd_acceptance_ratio', 'wasserstein_mean', 'wasserstein', 'property_frechet',
            'nn_mse_median', 'n_real', 'n_generated')} for d in sorted(results)},
        'recipe': 'examples/train_default_model.py',
    }
    path = weights.with_suffix('.json')
    path.write_text(json.dumps(card, indent=2, default=float) + '\n')
    log.info('wrote %s', path)
    return card


if __name__ == '__main__':
    main()
