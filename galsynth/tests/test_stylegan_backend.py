# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the ``stylegan`` generator backend (tiny models made here, and the bundled one)."""

import numpy as np
import pytest
import torch

from galsynth import GalaxyGenerator
from galsynth.models import DEFAULT_MODEL, available_models, model_card, model_path, sha256_of
from galsynth.products import galaxy_cube, read_galaxy, write_galaxy


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A small randomly initialized generator saved in the exported-generator format."""
    from galsynth.data.normalization import Normalization
    from galsynth.stylegan.checkpoint import save_checkpoint
    from galsynth.stylegan.configs import NetworkConfig
    from galsynth.stylegan.networks import build_networks

    torch.manual_seed(0)
    cfg = NetworkConfig(architecture='stylegan2', resolution=16, img_channels=3, z_dim=32,
                        w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    G, _ = build_networks(cfg)
    rng = np.random.default_rng(1)
    cubes = rng.gamma(2.0, 0.5, size=(8, 3, 16, 16)).astype(np.float32)
    norm = Normalization.fit(cubes, kind='asinh', bands='gri')
    path = tmp_path_factory.mktemp('model') / 'tiny.pt'
    save_checkpoint({'kind': 'generator', 'G_ema': G.state_dict(),
                     'network_config': cfg.to_dict(), 'progress': {},
                     'normalization': norm.to_dict(), 'bands': ['g', 'r', 'i']}, path)
    return path


class TestTinyModel:
    def test_describe(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        assert gen.bands == ('g', 'r', 'i')
        assert gen.resolution == 16
        assert gen.pixel_scale.value == pytest.approx(0.396127)

    def test_products_and_provenance(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        hduls = gen.generate(3, seed=11, truncation_psi=0.7, ra=150.0, dec=2.0, redshift=0.04)
        hdr = hduls[2][0].header
        assert hdr['GENERATR'] == 'stylegan'
        assert hdr['MODEL'] == 'tiny'
        assert hdr['MODELSHA'] == sha256_of(tiny_model)
        assert hdr['BASESEED'] == 11 and hdr['LATENTIX'] == 2
        assert hdr['TRUNCPSI'] == pytest.approx(0.7)
        assert hdr['REDSHIFT'] == pytest.approx(0.04)
        assert hdr['NORMKIND'] == 'asinh'
        assert hduls[0]['R'].header['BUNIT'] == 'nanomaggy'
        assert galaxy_cube(hduls[0]).shape == (3, 16, 16)

    def test_determinism_independent_of_batching(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        a = [galaxy_cube(h) for h in gen.generate(5, seed=3, batch_size=2)]
        again = [galaxy_cube(h) for h in gen.generate(5, seed=3, batch_size=2)]
        for x, y in zip(a, again, strict=True):
            np.testing.assert_array_equal(x, y)  # same request: identical bytes
        # other batchings give the same galaxies up to float32 rounding of batched BLAS
        b = [galaxy_cube(h) for h in gen.generate(5, seed=3, batch_size=5)]
        c = [galaxy_cube(h) for h in gen.generate(2, seed=3, start=3, batch_size=2)]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a[3], c[0], rtol=1e-5, atol=1e-6)
        d = gen.generate(1, seed=4)[0]
        assert not np.array_equal(galaxy_cube(d), a[0])

    def test_denormalization(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        ws = gen.latents([1, 2])
        assert ws.shape[:2] == (2, gen.num_ws)
        raw = gen.G.synthesis(torch.as_tensor(ws), noise_mode='const')
        expected = gen.normalization.inverse(raw).numpy()
        np.testing.assert_allclose(gen.synthesize(ws), expected, rtol=1e-6)

    def test_truncation_to_mean(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        ws = gen.latents([1, 2], truncation_psi=1e-9)
        w_avg = gen.G.mapping.w_avg.numpy()
        np.testing.assert_allclose(ws[0, 0], w_avg, atol=1e-5)

    def test_style_mix_and_interpolate(self, tiny_model):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        n = gen.num_ws
        coarse = gen.style_layers('coarse')
        assert coarse == [i for i in range(n) if 4 * 2 ** (i // 2) <= 8]
        mixed = gen.style_mix(1, 2, layers=coarse)
        ws = gen.latents([1, 2])
        manual = ws[:1].copy()
        manual[0, coarse] = ws[1, coarse]
        np.testing.assert_allclose(galaxy_cube(mixed), gen.synthesize(manual)[0], rtol=1e-6)
        assert mixed[0].header['MIXSEED'] == 2
        walk = gen.interpolate(1, 2, steps=4)
        assert len(walk) == 4
        ends = gen.synthesize(ws)
        np.testing.assert_allclose(galaxy_cube(walk[0]), ends[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(galaxy_cube(walk[-1]), ends[1], rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize('psi', [0.0, -0.5, 2.5])
    def test_bad_psi(self, tiny_model, psi):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        with pytest.raises(ValueError, match=r'truncation_psi must be in \(0, 2\]'):
            gen.generate(1, truncation_psi=psi)

    def test_bad_inputs(self, tiny_model, tmp_path):
        gen = GalaxyGenerator.from_checkpoint(tiny_model)
        with pytest.raises(ValueError, match='n must be a positive integer'):
            gen.generate(0)
        with pytest.raises(ValueError, match='ra must be a scalar or have n=2'):
            gen.generate(2, ra=[1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="unknown style group 'huge'"):
            gen.style_mix(1, 2, layers='huge')

    def test_corrupt_checkpoint(self, tiny_model, tmp_path):
        bad = tmp_path / 'corrupt.pt'
        bad.write_bytes(tiny_model.read_bytes()[:2000])
        with pytest.raises(ValueError, match=r'corrupt\.pt: not a readable galsynth checkpoint'):
            GalaxyGenerator.from_checkpoint(bad)
        with pytest.raises(FileNotFoundError, match='missing.pt'):
            GalaxyGenerator.from_checkpoint(tmp_path / 'missing.pt')

    def test_unknown_model_name(self):
        with pytest.raises(ValueError, match=r"unknown model 'no-such-model'; bundled models"):
            GalaxyGenerator.from_pretrained('no-such-model')

    def test_streaming_memory_is_constant(self, tiny_model):
        """Products are made batch by batch: nothing accumulates across n."""
        import tracemalloc

        gen = GalaxyGenerator.from_checkpoint(tiny_model)

        def peak(n):
            tracemalloc.start()
            for _ in gen.iter_generate(n, seed=0, batch_size=8):
                pass
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return top

        small, large = peak(16), peak(160)
        assert large < 1.5 * small


needs_bundled = pytest.mark.skipif(DEFAULT_MODEL not in available_models(),
                                   reason='the bundled default model is not in this checkout')


@needs_bundled
class TestBundledModel:
    def test_default_loads_and_sha_matches_card(self):
        gen = GalaxyGenerator()
        card = model_card(DEFAULT_MODEL)
        assert card['sha256'] == sha256_of(model_path(DEFAULT_MODEL))
        assert gen.bands == tuple(card['bands'])
        assert gen.resolution == card['resolution']
        assert model_path(DEFAULT_MODEL).stat().st_size <= 25 * 1024**2

    def test_generate_is_deterministic_and_calibrated(self, tmp_path):
        gen = GalaxyGenerator()
        a = gen.generate(4, seed=123)
        b = gen.generate(4, seed=123)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(galaxy_cube(x), galaxy_cube(y))
        assert a[0][0].header['MODELSHA'] == model_card(DEFAULT_MODEL)['sha256']
        # de-normalized values lie in the range of the training data's nanomaggies
        card = model_card(DEFAULT_MODEL)
        lo, hi = card['training_data']['pixel_range_nanomaggy']  # 0.1 and 99.9 percentiles
        cube = np.stack([galaxy_cube(h) for h in a])
        assert np.isfinite(cube).all()
        glo, gmed, ghi = np.percentile(cube, [0.1, 50, 99.9])
        span = hi - lo
        assert lo - 0.5 * span <= glo and ghi <= hi + 0.5 * span
        assert abs(gmed) < 0.1 * span  # sky-subtracted: the median pixel is near zero
        # the images are normalized-space outputs mapped back: not a constant offset
        assert ghi - glo > 0.1 * span
        path = write_galaxy(a[0], tmp_path / 'g.fits')
        assert read_galaxy(path)[0].header['MODEL'] == DEFAULT_MODEL

    def test_damaged_bundled_file_is_refused(self, tmp_path, monkeypatch):
        import galsynth.models as models

        fake = tmp_path / f'{DEFAULT_MODEL}.pt'
        data = bytearray(model_path(DEFAULT_MODEL).read_bytes())
        data[-100] ^= 0xFF
        fake.write_bytes(bytes(data))
        (tmp_path / f'{DEFAULT_MODEL}.json').write_text(
            (models.MODEL_DIR / f'{DEFAULT_MODEL}.json').read_text())
        monkeypatch.setattr(models, 'MODEL_DIR', tmp_path)
        with pytest.raises(ValueError, match='does not match the model card'):
            GalaxyGenerator()
