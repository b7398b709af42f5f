# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the StyleGAN training loop (tiny networks, CPU)."""

import json
import math
import os
import socket

import numpy as np
import pytest
import torch

from galsynth.stylegan.checkpoint import load_checkpoint
from galsynth.stylegan.training import (
    SlicedWassersteinMetric,
    TrainingConfig,
    TrainingError,
    fade_reals,
    progressive_schedule,
    sliced_wasserstein,
    train,
)

#: A network small enough for a training step in a few milliseconds.
TINY = {'channel_max': 16, 'z_dim': 16, 'w_dim': 16, 'mapping_layers': 2}


class TinyDataset(torch.utils.data.Dataset):
    """
    In-memory stand-in for the galsynth datasets: Gaussian blobs in [-1, 1].

    Carries the attributes the trainer reads (``num_channels``,
    ``resolution``, ``bands``, ``normalization``).
    """

    def __init__(self, n=32, *, resolution=16, channels=3, seed=0, normalization=None,
                 bands=None, nan_after=None):
        rng = np.random.default_rng(seed)
        c = np.arange(resolution) - (resolution - 1) / 2
        yy, xx = np.meshgrid(c, c, indexing='ij')
        images = []
        for _ in range(n):
            sigma = rng.uniform(0.08, 0.25) * resolution
            dx, dy = rng.normal(0, 0.05 * resolution, 2)
            blob = np.exp(-((xx - dx) ** 2 + (yy - dy) ** 2) / (2 * sigma ** 2))
            amp = rng.uniform(0.5, 1.0, (channels, 1, 1))
            images.append(2 * amp * blob - 1 + rng.normal(0, 0.02, (channels, 1, 1)))
        self.images = torch.as_tensor(np.array(images), dtype=torch.float32)
        self.num_channels = channels
        self.resolution = resolution
        self.bands = tuple(bands or 'griuz'[:channels])
        self.normalization = normalization or {'kind': 'asinh', 'scale': [1.0] * channels}
        self.nan_after = nan_after
        self.fetched = 0

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        self.fetched += 1
        if self.nan_after is not None and self.fetched > self.nan_after:
            return torch.full_like(self.images[index], float('nan'))
        return self.images[index]


def tiny_config(**kwargs):
    """A TrainingConfig for the tiny network (override anything by keyword)."""
    base = dict(network='cpu-16', network_overrides=dict(TINY), kimg=0.064, batch_size=4,
                snapshot_kimg=0.032, tick_kimg=0.016, ada_target=0, sample_grid=4,
                lazy_r1_interval=2, ema_kimg=0.01, deterministic=True, seed=1,
                tensorboard=False)
    overrides = kwargs.pop('network_overrides', {})
    base['network_overrides'] = base['network_overrides'] | overrides
    base.update(kwargs)
    return TrainingConfig(**base)


def state_equal(a, b):
    """Whether two (nested) state dicts are bit-identical."""
    if isinstance(a, dict):
        return set(a) == set(b) and all(state_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(state_equal(x, y) for x, y in zip(a, b, strict=True))
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and \
            torch.equal(a, b) if not a.is_floating_point() else \
            torch.equal(a.view(-1).view(torch.int32 if a.dtype == torch.float32 else a.dtype),
                        b.view(-1).view(torch.int32 if b.dtype == torch.float32 else b.dtype))
    return a == b


class TestProgressiveSchedule:
    def test_phases(self):
        kw = dict(start_resolution=8, final_resolution=32, stable_kimg=10, fade_kimg=5)
        assert progressive_schedule(0, **kw) == (8, 1.0)
        assert progressive_schedule(9.9, **kw) == (8, 1.0)
        assert progressive_schedule(10, **kw) == (16, 0.0)
        assert progressive_schedule(12.5, **kw) == (16, 0.5)
        assert progressive_schedule(15, **kw) == (16, 1.0)
        assert progressive_schedule(24.9, **kw) == (16, 1.0)
        res, alpha = progressive_schedule(26, **kw)
        assert res == 32 and math.isclose(alpha, 0.2)
        assert progressive_schedule(30, **kw) == (32, 1.0)
        assert progressive_schedule(1e6, **kw) == (32, 1.0)

    def test_monotonic_and_continuous(self):
        kw = dict(start_resolution=8, final_resolution=64, stable_kimg=3, fade_kimg=2)
        last = (8, 1.0)
        for kimg in np.linspace(0, 30, 3001):
            res, alpha = progressive_schedule(kimg, **kw)
            assert 0 <= alpha <= 1
            # the "level of detail" never goes back and moves by at most one step
            lod, last_lod = math.log2(res) - 1 + alpha, math.log2(last[0]) - 1 + last[1]
            assert lod >= last_lod - 1e-12
            assert lod - last_lod <= 0.01 + 1e-9 or (last[1] == 1.0 and alpha < 0.01)
            last = (res, alpha)
        assert last == (64, 1.0)

    def test_start_at_final(self):
        kw = dict(start_resolution=16, final_resolution=16, stable_kimg=3, fade_kimg=2)
        assert progressive_schedule(0, **kw) == (16, 1.0)
        assert progressive_schedule(100, **kw) == (16, 1.0)


class TestFadeReals:
    def test_alpha_one_is_box_downsampling(self):
        x = torch.randn(2, 3, 16, 16)
        y = fade_reals(x, 8, 1.0)
        assert y.shape == (2, 3, 8, 8)
        torch.testing.assert_close(y, x.reshape(2, 3, 8, 2, 8, 2).mean(dim=(3, 5)))

    def test_alpha_zero_is_upsampled_low_resolution(self):
        from galsynth.stylegan.layers import upsample2d

        x = torch.randn(1, 1, 16, 16)
        y0 = fade_reals(x, 16, 0.0)
        y1 = fade_reals(x, 16, 1.0)
        torch.testing.assert_close(y1, x)
        # alpha=0: the 8x8 version upsampled as the generator upsamples its
        # previous toRGB output during a fade-in
        torch.testing.assert_close(y0, upsample2d(fade_reals(x, 8, 1.0)))
        yh = fade_reals(x, 16, 0.5)
        torch.testing.assert_close(yh, (y0 + y1) / 2)


class TestTrainingConfig:
    def test_json_round_trip(self):
        cfg = tiny_config(betas=(0.0, 0.9))
        text = json.dumps(cfg.to_dict())
        back = TrainingConfig.from_dict(json.loads(text))
        assert back == cfg

    def test_resolve_fills_preset_defaults(self):
        net, cfg = TrainingConfig(network='cpu-64').resolve(dataset=TinyDataset(4,
                                                                                 resolution=64))
        assert net.resolution == 64 and net.img_channels == 3
        assert cfg.batch_size == 16 and cfg.loss == 'r1'
        assert cfg.betas == (0.0, 0.99)
        assert cfg.metric_kimg == cfg.snapshot_kimg

    def test_channels_from_dataset(self):
        net, _ = tiny_config().resolve(dataset=TinyDataset(4, channels=5))
        assert net.img_channels == 5

    def test_bad_values_listed(self):
        with pytest.raises(ValueError, match='invalid training configuration') as info:
            tiny_config(kimg=-1, loss='hinge', batch_size=0).resolve()
        text = str(info.value)
        assert 'kimg' in text and 'loss' in text and 'batch_size' in text

    def test_unknown_field(self):
        with pytest.raises(ValueError, match='unknown TrainingConfig fields'):
            TrainingConfig.from_dict({'kimgs': 3})

    def test_dataset_resolution_mismatch(self):
        cfg = tiny_config(network_overrides={'resolution': 32})
        with pytest.raises(ValueError, match='dataset resolution is 16'):
            cfg.resolve(dataset=TinyDataset(4))


class FlipDataset(TinyDataset):
    """A TinyDataset with random flips drawn from the global torch RNG (like an augmenter)."""

    def __getitem__(self, index):
        image = super().__getitem__(index)
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image


def _latest(path):
    return load_checkpoint(path / 'latest.pt')


class TestTrain:
    def test_run_folder(self, tmp_path):
        result = train(tiny_config(), TinyDataset(), out_dir=tmp_path, progress=False)
        assert result.kimg == pytest.approx(0.064)
        names = {p.name for p in tmp_path.iterdir()}
        assert {'training_options.json', 'log.jsonl', 'log.csv', 'latest.pt',
                'network-snapshot-000000.032.pt', 'network-snapshot-000000.064.pt',
                'fakes-000000.064.png'} <= names
        options = json.loads((tmp_path / 'training_options.json').read_text())
        assert options['training_config']['batch_size'] == 4
        assert options['network_config']['channel_max'] == 16
        records = [json.loads(line) for line in
                   (tmp_path / 'log.jsonl').read_text().splitlines()]
        assert [r['kimg'] for r in records] == pytest.approx([0.016, 0.032, 0.048, 0.064])
        assert all(math.isfinite(r['loss/Gmain']) and math.isfinite(r['loss/Dmain'])
                   for r in records)
        assert 'loss/Dreg' in records[0]
        header = (tmp_path / 'log.csv').read_text().splitlines()[0].split(',')
        assert 'sec_per_kimg' in header and 'loss/Dmain' in header
        ckpt = _latest(tmp_path)
        assert ckpt['progress']['nimg'] == 64
        assert ckpt['bands'] == ['g', 'r', 'i']
        assert ckpt['normalization'] == {'kind': 'asinh', 'scale': [1.0, 1.0, 1.0]}
        assert ckpt['training_config']['loss'] == 'r1'
        # G_ema is an average of G, distinct from it
        assert not state_equal(ckpt['G'], ckpt['G_ema'])

    def test_refuses_used_folder(self, tmp_path):
        train(tiny_config(kimg=0.008), TinyDataset(), out_dir=tmp_path, progress=False)
        with pytest.raises(FileExistsError, match='already holds a training run'):
            train(tiny_config(kimg=0.008), TinyDataset(), out_dir=tmp_path, progress=False)

    @pytest.mark.parametrize('architecture', ['stylegan2', 'stylegan'])
    def test_exact_resume(self, tmp_path, architecture):
        """An interrupted and continued run ends bit-identical to an uninterrupted one."""
        kw = dict(network_overrides={'architecture': architecture},
                  loss='r1' if architecture == 'stylegan2' else 'wgangp',
                  kimg=0.064, snapshot_kimg=0.032, metric_kimg=0.016, ada_target=0.5,
                  ada_kimg=0.2, ada_interval=1, lod_training_kimg=0.016,
                  lod_transition_kimg=0.024, style_mixing_prob=0.5)
        noop = [lambda kimg, G_ema, state: {}]
        full = train(tiny_config(**kw), FlipDataset(), out_dir=tmp_path / 'a',
                     callbacks=noop, progress=False)

        def interrupt(kimg, G_ema, state):
            # stops at kimg 0.048: the steps after the snapshot at 0.032 are lost
            if kimg >= 0.048 - 1e-9:
                raise KeyboardInterrupt
            return {}

        with pytest.raises(KeyboardInterrupt):
            train(tiny_config(**kw), FlipDataset(), out_dir=tmp_path / 'b',
                  callbacks=[interrupt], progress=False)
        stopped = _latest(tmp_path / 'b')
        assert stopped['progress']['nimg'] == 32
        if architecture == 'stylegan':  # interrupted in the middle of the 8 -> 16 fade-in
            assert stopped['progress']['resolution'] == 16
            assert 0 < stopped['progress']['alpha'] < 1
        again = train(tiny_config(**kw), FlipDataset(), out_dir=tmp_path / 'b',
                      resume=tmp_path / 'b' / 'latest.pt', callbacks=noop, progress=False)
        assert again.kimg == pytest.approx(full.kimg)
        a, b = _latest(tmp_path / 'a'), _latest(tmp_path / 'b')
        for key in ('G', 'D', 'G_ema', 'G_opt', 'D_opt', 'augment'):
            assert state_equal(a[key], b[key]), key
        assert a['augment']['p'] > 0  # the augmentation was exercised
        assert a['progress']['resolution'] == 16
        # ... and the continued run differs from a run with another seed
        other = train(tiny_config(**(kw | {'seed': 2})), FlipDataset(), out_dir=tmp_path / 'c',
                      progress=False)
        assert not state_equal(_latest(other.out_dir)['G'], a['G'])
        # the log of the continued run has no duplicate ticks
        kimgs = [json.loads(line)['kimg'] for line in
                 (tmp_path / 'b' / 'log.jsonl').read_text().splitlines()]
        assert kimgs == sorted(set(kimgs))

    def test_workers_same_result(self, tmp_path):
        """Loading in worker processes gives the same images, hence the same weights."""
        a = train(tiny_config(kimg=0.016), FlipDataset(), out_dir=tmp_path / 'a',
                  progress=False)
        b = train(tiny_config(kimg=0.016, workers=2), FlipDataset(), out_dir=tmp_path / 'b',
                  progress=False)
        assert state_equal(a.G.state_dict(), b.G.state_dict())
        assert state_equal(a.D.state_dict(), b.D.state_dict())

    @pytest.fixture(scope='class')
    @classmethod
    def pretrained(cls, tmp_path_factory):
        out = tmp_path_factory.mktemp('pretrained')
        train(tiny_config(kimg=0.032), TinyDataset(), out_dir=out, progress=False)
        return out / 'latest.pt'

    def test_finetune_freezing(self, tmp_path, pretrained):
        start = load_checkpoint(pretrained)
        cfg = tiny_config(network=None, network_overrides={}, kimg=0.032, freeze_g=3,
                          freeze_d=1)
        result = train(cfg, TinyDataset(seed=7), out_dir=tmp_path, resume=pretrained,
                       progress=False)
        end = _latest(tmp_path)
        assert end['progress']['nimg'] == 32  # a new run, counted from 0
        frozen_g, frozen_d = end['frozen']['G'], end['frozen']['D']
        assert frozen_g and all(n.startswith(('synthesis.blocks.b4.', 'synthesis.blocks.b8.'))
                                for n in frozen_g)
        assert any(n.startswith('synthesis.blocks.b4.torgb') for n in frozen_g)
        assert frozen_d and all(n.startswith('blocks.b16.') for n in frozen_d)
        for net, frozen in (('G', frozen_g), ('D', frozen_d)):
            params = dict(getattr(result, net).named_parameters())
            for name, p in params.items():
                if name in frozen:
                    assert torch.equal(end[net][name], start[net][name]), name
                    assert not p.requires_grad
                else:
                    assert not torch.equal(end[net][name], start[net][name]), name
            # frozen parameters are not in the optimizer
            in_opt = sum(len(g['params']) for g in end[f'{net}_opt']['param_groups'])
            assert in_opt == len(params) - len(frozen)

    def test_finetune_freeze_blocks(self, tmp_path, pretrained):
        cfg = tiny_config(network=None, network_overrides={}, kimg=0.008, freeze_g_blocks=1)
        train(cfg, TinyDataset(seed=7), out_dir=tmp_path, resume=pretrained, progress=False)
        start, end = load_checkpoint(pretrained), _latest(tmp_path)
        frozen = end['frozen']['G']
        assert frozen and all(n.startswith('synthesis.blocks.b4.') for n in frozen)
        assert all(torch.equal(end['G'][n], start['G'][n]) for n in frozen)
        assert not end['frozen']['D']

    def test_finetune_band_mismatch(self, tmp_path, pretrained):
        cfg = tiny_config(network=None, network_overrides={})
        with pytest.raises(ValueError, match=r'band count: checkpoint 3 != dataset 2'):
            train(cfg, TinyDataset(channels=2), out_dir=tmp_path, resume=pretrained,
                  progress=False)
        with pytest.raises(ValueError, match=r"bands: checkpoint 'gri' != dataset 'riz'"):
            train(cfg, TinyDataset(bands='riz'), out_dir=tmp_path, resume=pretrained,
                  progress=False)

    def test_finetune_normalization_mismatch(self, tmp_path, pretrained):
        cfg = tiny_config(network=None, network_overrides={})
        norm = {'kind': 'asinh', 'scale': [1.0, 2.0, 1.0]}
        with pytest.raises(ValueError, match=r'normalization differs.*scale\.1: checkpoint '
                                             r'1\.0 != dataset 2\.0.*from_dict'):
            train(cfg, TinyDataset(normalization=norm), out_dir=tmp_path, resume=pretrained,
                  progress=False)
        assert not (tmp_path / 'latest.pt').exists()

    def test_finetune_network_mismatch(self, tmp_path, pretrained):
        cfg = tiny_config(network_overrides={'mapping_layers': 4, 'channel_max': 32})
        with pytest.raises(ValueError, match=r'2 mismatches.*channel_max: checkpoint 16 != '
                                             r'requested 32.*mapping_layers: checkpoint 2 != '
                                             r'requested 4'):
            train(cfg, TinyDataset(), out_dir=tmp_path, resume=pretrained, progress=False)

    def test_non_finite_loss_stops(self, tmp_path):
        # images 25+ are NaN: the minibatch of step 6 (images 24-27) poisons D's loss
        dataset = TinyDataset(nan_after=24)
        cfg = tiny_config(kimg=0.064, snapshot_kimg=0.016)
        with pytest.raises(TrainingError, match=r'non-finite Dmain loss \(nan\) at kimg 0\.024 '
                                                r'\(step 6\).*last good checkpoint: .*latest\.pt'):
            train(cfg, dataset, out_dir=tmp_path, progress=False)
        ckpt = _latest(tmp_path)
        assert ckpt['progress']['nimg'] == 16
        assert all(torch.isfinite(v).all() for v in ckpt['G'].values())
        assert sorted(p.name for p in tmp_path.glob('network-snapshot-*')) == [
            'network-snapshot-000000.016.pt']

    def test_metrics_and_best(self, tmp_path):
        def metric(kimg, G_ema, state):
            assert not G_ema.training
            return {'fake': (kimg - 0.032) ** 2, 'other': torch.tensor(kimg)}

        cfg = tiny_config(metric_kimg=0.016, snapshot_kimg=0.064, best_metric='fake')
        result = train(cfg, TinyDataset(), out_dir=tmp_path, callbacks=[metric],
                       progress=False)
        assert [m['kimg'] for m in result.metrics] == pytest.approx(
            [0, 0.016, 0.032, 0.048, 0.064])
        assert result.best_value == 0
        best = load_checkpoint(result.best)
        assert best['progress']['nimg'] == 32
        assert json.loads((tmp_path / 'best.json').read_text())['kimg'] == 0.032
        records = [json.loads(line) for line in (tmp_path / 'log.jsonl').read_text().splitlines()]
        assert records[0]['kimg'] == 0 and 'metric/fake' in records[0]
        assert 'metric/other' in (tmp_path / 'log.csv').read_text().splitlines()[0]

    def test_swd_metric(self):
        """The sliced Wasserstein distance is 0 for equal sets and grows with a shift."""
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(200, 5, generator=gen)
        assert sliced_wasserstein(a, a) == 0
        d1 = sliced_wasserstein(a, a + 0.1)
        d2 = sliced_wasserstein(a, a + 1.0)
        assert 0 < d1 < d2
        # a shift s moves every projection by s . u: the distance is |s| E|u_1| over
        # random unit vectors u of R^5, E|u_1| = Gamma(5/2) / (sqrt(pi) Gamma(3)) = 0.375
        assert d2 == pytest.approx(np.sqrt(5) * 0.375, rel=0.1)


def _ddp_worker(rank, world_size, port, out_dir, result_dir):
    """One process of a 2-process run, set up as ``torchrun`` would (environment)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    result = train(tiny_config(kimg=0.016, snapshot_kimg=0.016, ada_target=0.5,
                               ada_interval=1, ada_kimg=0.2, device='cpu'),
                   TinyDataset(), out_dir=out_dir, progress=False)
    assert not dist.is_initialized()  # train() created the process group and closed it
    torch.save({'G': result.G.state_dict(), 'D': result.D.state_dict(),
                'G_ema': result.G_ema.state_dict()},
               os.path.join(result_dir, f'rank{rank}.pt'))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
class TestDistributed:
    def test_gloo_two_processes(self, tmp_path):
        """Two CPU processes (gloo) take identical steps: identical weights at the end."""
        import torch.multiprocessing as mp

        out = tmp_path / 'run'
        mp.spawn(_ddp_worker, args=(2, _free_port(), str(out), str(tmp_path)),
                 nprocs=2, join=True)
        r0 = torch.load(tmp_path / 'rank0.pt', weights_only=True)
        r1 = torch.load(tmp_path / 'rank1.pt', weights_only=True)
        assert state_equal(r0, r1)
        ckpt = _latest(out)
        assert ckpt['world_size'] == 2 and ckpt['progress']['nimg'] == 16
        for key in ('G', 'D', 'G_ema'):
            assert state_equal(ckpt[key], r0[key])
        # training happened: G moved away from its initialization
        from galsynth.stylegan.configs import NetworkConfig
        from galsynth.stylegan.networks import build_networks

        torch.manual_seed(0)
        G, _ = build_networks(NetworkConfig.from_dict(ckpt['network_config']))
        changed = [k for k, v in G.state_dict().items()
                   if v.is_floating_point() and not torch.equal(v, r0['G'][k])]
        assert len(changed) > len(G.state_dict()) // 2


class SimulatedGalaxies(TinyDataset):
    """
    Simulated 16x16 g, r, i galaxies (`galsynth.simulation`), asinh-stretched
    to [-1, 1], with random 90-degree rotations and flips.
    """

    def __init__(self, n, *, seed):
        from galsynth.products import galaxy_cube
        from galsynth.simulation import simulate

        super().__init__(1)
        cube = np.array([galaxy_cube(h) for h in simulate(n, seed=seed, size=16, bands='gri')])
        x = np.arcsinh(cube / 0.5)
        lo, hi = np.percentile(x, [0.1, 99.9])
        self.images = torch.as_tensor(np.clip(2 * (x - lo) / (hi - lo) - 1, -1, 1),
                                      dtype=torch.float32)
        self.normalization = {'kind': 'asinh', 'softening': 0.5, 'range': [float(lo), float(hi)]}

    def __getitem__(self, index):
        image = torch.rot90(self.images[index], int(torch.randint(4, ())), (1, 2))
        return image.flip(-1) if torch.rand(()) < 0.5 else image


@pytest.mark.slow
class TestLearning:
    def test_quality_improves_on_simulated_galaxies(self, tmp_path):
        """
        A short CPU run on simulated galaxies lowers the sliced Wasserstein
        distance between G_ema samples and the galaxies (a real measure of
        the distance between the two image distributions) well below its
        value at the first snapshot.
        """
        data = SimulatedGalaxies(48, seed=11)
        metric = SlicedWassersteinMetric(data, num_images=96, seed=0)
        cfg = tiny_config(kimg=0.75, batch_size=16, metric_kimg=0.25, snapshot_kimg=0.75,
                          tick_kimg=0.25, ema_kimg=0.1, lazy_r1_interval=4,
                          deterministic=False, network_overrides={'z_dim': 32, 'w_dim': 32})
        result = train(cfg, data, out_dir=tmp_path, callbacks=[metric], progress=False)
        swd = [m['swd'] for m in result.metrics]
        # the measure separates the data from what an untrained generator makes ...
        reals = torch.stack([data[i] for i in range(len(data))])
        gen = torch.Generator().manual_seed(3)
        floor = sliced_wasserstein(reals, torch.stack([data[i] for i in range(len(data))]),
                                   generator=gen)
        assert floor < 0.2 * swd[0]
        # ... and training brings it well below its first value
        assert swd[-1] < 0.6 * swd[0]
        assert swd[-1] < swd[1]


def _write_products(folder, n, *, seed, bands='gri', size=16):
    """A folder of galaxy FITS products holding blobs (nanomaggies)."""
    from galsynth.products import make_galaxy, write_galaxy

    blobs = TinyDataset(n, resolution=size, channels=len(bands), seed=seed).images.numpy()
    folder.mkdir()
    for k, blob in enumerate(blobs):
        flux = 5 * (blob + 1) + np.random.default_rng(k).normal(0, 0.05, blob.shape)
        write_galaxy(make_galaxy(flux.astype(np.float32), bands=bands, generator='test'),
                     folder / f'g{k:03d}.fits')
    return folder


TINY_CLI = ['--config', 'cpu-16', '--set', 'channel_max=16', '--set', 'z_dim=16',
            '--set', 'w_dim=16', '--set', 'mapping_layers=2', '--batch', '4',
            '--metric-images', '8', '--no-progress', '--grid', '0']


class TestCLI:
    def test_train_finetune_continue_export(self, tmp_path, capsys):
        from galsynth.cli import main

        sim = _write_products(tmp_path / 'sim', 12, seed=1)
        real = _write_products(tmp_path / 'real', 6, seed=2)
        run = tmp_path / 'run'
        assert main(['train', '--data', str(sim), '--out', str(run), '--kimg', '0.016',
                     '--snap', '0.016', *TINY_CLI]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith('galsynth train: 0.016 kimg')
        ckpt = _latest(run)
        assert ckpt['bands'] == ['g', 'r', 'i'] and ckpt['normalization']['kind'] == 'asinh'
        assert ckpt['training_config']['dataset_options']['rotate'] is True
        assert (run / 'best.pt').exists()

        # fine-tune: the dataset takes the checkpoint's normalization, not its own fit
        ft = tmp_path / 'ft'
        assert main(['train', '--resume', str(run / 'latest.pt'), '--data', str(real),
                     '--out', str(ft), '--freeze-g', '1', '--kimg', '0.008', '--snap',
                     '0.008', '--batch', '4', '--no-progress', '--metric', 'none']) == 0
        tuned = _latest(ft)
        assert tuned['normalization'] == ckpt['normalization']
        assert tuned['network_config'] == ckpt['network_config']
        assert 'synthesis.blocks.b4.const' in tuned['frozen']['G']
        assert all(n.startswith('synthesis.blocks.b4.') for n in tuned['frozen']['G'])
        assert all(torch.equal(tuned['G'][n], ckpt['G'][n]) for n in tuned['frozen']['G'])
        assert tuned['training_config']['freeze_g'] == 1

        # continue the fine-tuning run to a longer length
        assert main(['train', '--continue', str(ft), '--kimg', '0.016', '--no-progress']) == 0
        assert _latest(ft)['progress']['nimg'] == 16

        # export the generator
        model = tmp_path / 'model.pt'
        assert main(['train', '--export', str(ft / 'latest.pt'), '--out', str(model),
                     '--half', '--metadata', '{"name": "tiny"}']) == 0
        assert load_checkpoint(model)['metadata'] == {'name': 'tiny'}
        capsys.readouterr()
        assert main(['train', '--export', str(ft / 'latest.pt'), '--out', str(model)]) == 2
        assert 'use --overwrite' in capsys.readouterr().err

    def test_errors(self, tmp_path, capsys):
        from galsynth.cli import main

        sim = _write_products(tmp_path / 'sim', 4, seed=1)
        assert main(['train', '--data', str(tmp_path / 'none'), '--out', str(tmp_path / 'r'),
                     *TINY_CLI]) == 2
        assert main(['train', '--data', str(sim), *TINY_CLI]) == 2
        assert '--data and --out are required' in capsys.readouterr().err
        assert main(['train', '--continue', str(tmp_path), *TINY_CLI]) == 2
        assert 'no latest.pt to continue from' in capsys.readouterr().err
        bad = tmp_path / 'bad.pt'
        bad.write_bytes(b'not a checkpoint')
        assert main(['train', '--resume', str(bad), '--data', str(sim), '--out',
                     str(tmp_path / 'r'), '--no-progress']) == 2
        assert 'bad.pt: not a readable galsynth checkpoint' in capsys.readouterr().err
