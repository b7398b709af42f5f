# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of StyleGAN checkpoints: save, load, validation, export."""

import os
import pickle

import pytest
import torch

from galsynth.stylegan.checkpoint import (
    check_compatible,
    check_dataset_compatible,
    checkpoint_bytes,
    export_generator,
    file_sha256,
    load_checkpoint,
    load_generator,
    load_state_strict,
    save_checkpoint,
)
from galsynth.stylegan.configs import NetworkConfig
from galsynth.stylegan.networks import build_networks
from galsynth.stylegan.training import train

from .test_training import TinyDataset, tiny_config


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """A finished tiny training run (stylegan2, 3 bands, 16x16)."""
    out = tmp_path_factory.mktemp('run')
    train(tiny_config(kimg=0.016, snapshot_kimg=0.016), TinyDataset(), out_dir=out,
          progress=False)
    return out


class _Opaque:
    """A class: pickles of it must not load with weights_only=True."""


class TestSaveLoad:
    def test_plain_data_only(self, run):
        # weights_only=True loads it: no classes, no code
        raw = torch.load(run / 'latest.pt', weights_only=True)
        assert raw['format'] == 'galsynth-stylegan-checkpoint'
        assert raw['kind'] == 'training'
        for key in ('G', 'D', 'G_ema', 'G_opt', 'D_opt', 'progress', 'rng', 'network_config',
                    'training_config', 'normalization', 'bands', 'software'):
            assert key in raw, key
        assert isinstance(raw['rng']['torch'], torch.Tensor)
        assert raw['rng']['numpy']['keys'].shape == (624,)

    def test_refuses_objects(self, tmp_path):
        with pytest.raises(TypeError, match=r"checkpoint\['extra'\]: _Opaque cannot be stored"):
            checkpoint_bytes({'extra': _Opaque()})
        assert not list(tmp_path.iterdir())

    def test_round_trip(self, tmp_path):
        state = {'kind': 'generator', 'G_ema': {'w': torch.arange(3.0)},
                 'network_config': NetworkConfig(resolution=8).to_dict(),
                 'progress': {'kimg': 1.5}, 'metadata': {'a': [1, 2]}}
        path = save_checkpoint(state, tmp_path / 'g.pt')
        back = load_checkpoint(path)
        assert torch.equal(back['G_ema']['w'], torch.arange(3.0))
        assert back['metadata'] == {'a': [1, 2]}
        assert back['path'] == str(path)
        with pytest.raises(FileExistsError):
            save_checkpoint(state, path)
        save_checkpoint(state, path, overwrite=True)


class TestBadFiles:
    def test_missing(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='nope.pt: checkpoint not found'):
            load_checkpoint(tmp_path / 'nope.pt')

    def test_random_bytes(self, tmp_path):
        path = tmp_path / 'junk.pt'
        path.write_bytes(os.urandom(2000))
        with pytest.raises(ValueError, match=r'junk\.pt: not a readable galsynth checkpoint'):
            load_checkpoint(path)

    def test_truncated(self, tmp_path, run):
        data = (run / 'latest.pt').read_bytes()
        path = tmp_path / 'cut.pt'
        path.write_bytes(data[:len(data) // 2])
        with pytest.raises(ValueError, match=r'cut\.pt: not a readable galsynth checkpoint'):
            load_checkpoint(path)

    def test_pickled_class_refused(self, tmp_path):
        path = tmp_path / 'evil.pt'
        torch.save({'G': _Opaque()}, path)
        with pytest.raises(ValueError, match=r'evil\.pt: not a readable galsynth checkpoint'):
            load_checkpoint(path)
        path2 = tmp_path / 'pickle.pt'
        path2.write_bytes(pickle.dumps({'format': 'galsynth-stylegan-checkpoint'}))
        with pytest.raises(ValueError, match=r'pickle\.pt'):
            load_checkpoint(path2)

    def test_other_torch_file(self, tmp_path):
        path = tmp_path / 'other.pt'
        torch.save({'state_dict': {'w': torch.zeros(2)}}, path)
        with pytest.raises(ValueError, match=r"other\.pt: not a galsynth StyleGAN checkpoint"):
            load_checkpoint(path)

    def test_incomplete(self, tmp_path):
        path = save_checkpoint({'kind': 'training', 'G': {}}, tmp_path / 'part.pt')
        with pytest.raises(ValueError, match=r'part\.pt: incomplete training checkpoint, '
                                             r'missing D, G_ema, network_config'):
            load_checkpoint(path)

    def test_newer_version(self, tmp_path):
        path = save_checkpoint({'format_version': 99, 'kind': 'generator'}, tmp_path / 'v.pt')
        with pytest.raises(ValueError, match='format version 99 is newer'):
            load_checkpoint(path)

    def test_interrupted_write_keeps_previous(self, tmp_path, monkeypatch):
        """A write that dies before the rename leaves the old checkpoint intact."""
        path = save_checkpoint({'kind': 'generator', 'G_ema': {'w': torch.ones(2)},
                                'network_config': {}, 'progress': {}}, tmp_path / 'latest.pt')
        before = path.read_bytes()

        def die(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(os, 'replace', die)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint({'kind': 'generator', 'G_ema': {'w': torch.zeros(2)},
                             'network_config': {}, 'progress': {}}, path, overwrite=True)
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ['latest.pt']  # no temporary left
        assert torch.equal(load_checkpoint(path)['G_ema']['w'], torch.ones(2))


class TestCompatibility:
    def test_mismatches_listed(self, run):
        ckpt = load_checkpoint(run / 'latest.pt')
        other = NetworkConfig.from_dict(ckpt['network_config'] | {
            'mapping_layers': 8, 'channel_max': 32, 'img_channels': 5, 'resolution': 32,
            'architecture': 'stylegan'})
        with pytest.raises(ValueError) as info:
            check_compatible(ckpt, other)
        text = str(info.value)
        assert 'latest.pt' in text and '5 mismatches' in text
        for part in ('architecture: checkpoint \'stylegan2\' != requested \'stylegan\'',
                     'channel_max: checkpoint 16 != requested 32',
                     'img_channels: checkpoint 3 != requested 5',
                     'mapping_layers: checkpoint 2 != requested 8',
                     'resolution: checkpoint 16 != requested 32'):
            assert part in text
        check_compatible(ckpt, NetworkConfig.from_dict(ckpt['network_config']))

    def test_strict_state_loading(self, run):
        ckpt = load_checkpoint(run / 'latest.pt')
        config = NetworkConfig.from_dict(ckpt['network_config'] | {'mapping_layers': 3})
        G, _ = build_networks(config)
        before = {k: v.clone() for k, v in G.state_dict().items()}
        with pytest.raises(ValueError, match=r'latest\.pt: G weights do not fit the network: '
                                             r'missing mapping\.'):
            load_state_strict(G, ckpt['G'], name='G', path=ckpt['path'])
        # nothing was loaded (no partial load)
        assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())
        config = NetworkConfig.from_dict(ckpt['network_config'] | {'channel_max': 8})
        G, _ = build_networks(config)
        with pytest.raises(ValueError, match='shape mismatch'):
            load_state_strict(G, ckpt['G'], name='G')

    def test_dataset(self, run):
        ckpt = load_checkpoint(run / 'latest.pt')
        check_dataset_compatible(ckpt, TinyDataset(4))
        with pytest.raises(ValueError, match=r'latest\.pt: dataset does not match the '
                                             r'checkpoint: band count: checkpoint 3 != dataset 5'):
            check_dataset_compatible(ckpt, TinyDataset(4, channels=5))
        with pytest.raises(ValueError, match=r"normalization differs from the checkpoint's "
                                             r"\(kind: checkpoint 'asinh' != dataset 'minmax'"):
            check_dataset_compatible(ckpt, TinyDataset(4, normalization={
                'kind': 'minmax', 'scale': [1.0] * 3}))


class TestGenerator:
    def test_load_generator(self, run):
        G, meta = load_generator(run / 'latest.pt')
        ckpt = load_checkpoint(run / 'latest.pt')
        assert not G.training and not any(p.requires_grad for p in G.parameters())
        assert all(torch.equal(v, ckpt['G_ema'][k]) for k, v in G.state_dict().items())
        assert meta['sha256'] == file_sha256(run / 'latest.pt')
        assert meta['resolution'] == 16 and meta['img_channels'] == 3
        assert meta['bands'] == ['g', 'r', 'i']
        assert meta['normalization']['kind'] == 'asinh'
        assert meta['kimg'] == pytest.approx(0.016)
        assert meta['training_config']['batch_size'] == 4
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
        img = G(z, noise_mode='const')
        assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()

    @pytest.mark.parametrize('half', [False, True])
    def test_export(self, tmp_path, run, half):
        info = export_generator(run / 'latest.pt', tmp_path / 'model.pt', half=half,
                                metadata={'name': 'tiny', 'data': 'blobs'})
        assert info['bytes'] == (tmp_path / 'model.pt').stat().st_size
        assert info['sha256'] == file_sha256(tmp_path / 'model.pt')
        full = (run / 'latest.pt').stat().st_size
        assert info['bytes'] < full / (5 if half else 2.5)
        raw = torch.load(tmp_path / 'model.pt', weights_only=True)
        assert set(raw) >= {'G_ema', 'network_config', 'normalization', 'bands', 'metadata'}
        assert 'D' not in raw and 'G_opt' not in raw
        dtypes = {v.dtype for v in raw['G_ema'].values() if v.is_floating_point()}
        assert dtypes == ({torch.float16} if half else {torch.float32})
        G0, _ = load_generator(run / 'latest.pt')
        G1, meta = load_generator(tmp_path / 'model.pt')
        assert meta['kind'] == 'generator' and meta['metadata']['name'] == 'tiny'
        assert meta['bands'] == ['g', 'r', 'i'] and meta['sha256'] == info['sha256']
        assert next(G1.parameters()).dtype == torch.float32
        z = torch.randn(3, G0.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            a, b = G0(z, noise_mode='const'), G1(z, noise_mode='const')
        if half:
            torch.testing.assert_close(a, b, atol=0.02, rtol=0)
        else:
            assert torch.equal(a, b)
        with pytest.raises(FileExistsError):
            export_generator(run / 'latest.pt', tmp_path / 'model.pt')

    def test_generator_cannot_continue(self, tmp_path, run):
        export_generator(run / 'latest.pt', tmp_path / 'model.pt')
        with pytest.raises(ValueError, match='fine-tuning needs a training checkpoint'):
            train(tiny_config(network=None, network_overrides={}), TinyDataset(),
                  out_dir=tmp_path / 'ft', resume=tmp_path / 'model.pt', progress=False)
