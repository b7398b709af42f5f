# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the StyleGAN networks, layers and configurations."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from galsynth.stylegan.configs import CONFIGS, NetworkConfig, TrainingDefaults, get_config
from galsynth.stylegan.layers import (
    AdaIN,
    Conv2dLayer,
    FullyConnected,
    MinibatchStdDev,
    ModulatedConv2d,
    adain,
    bias_act,
    blur2d,
    upsample2d,
    upsample_conv2d,
)
from galsynth.stylegan.networks import (
    Discriminator,
    Generator,
    build_networks,
    downsample_to,
    freeze_discriminator,
    freeze_generator,
    style_mix,
)

ARCHS = ('stylegan2', 'stylegan')


def tiny(arch='stylegan2', resolution=16, img_channels=3, **kw):
    """A tiny configuration (2-4 feature maps) for fast tests."""
    d = dict(architecture=arch, resolution=resolution, img_channels=img_channels, z_dim=8,
             w_dim=8, mapping_layers=2, channel_base=4 * resolution, channel_max=4,
             mbstd_group_size=2)
    d.update(kw)
    return NetworkConfig(**d)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class TestConfigs:
    def test_channels_rule(self):
        cfg = NetworkConfig(channel_base=32768, channel_max=128, resolution=64)
        assert [cfg.channels(r) for r in cfg.resolutions] == [128] * 5
        cfg = NetworkConfig(channel_base=16384, channel_max=512, resolution=256)
        assert [cfg.channels(r) for r in cfg.resolutions] == [512, 512, 512, 512, 256, 128, 64]
        assert cfg.num_ws == 14

    def test_roundtrip(self):
        cfg = tiny('stylegan', 32, 5)
        assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
        assert cfg.mismatches(cfg.to_dict()) == []
        other = tiny('stylegan', 32, 3, mapping_layers=8)
        mism = cfg.mismatches(other)
        assert len(mism) == 2 and any('mapping_layers' in m for m in mism)
        with pytest.raises(ValueError, match='unknown'):
            NetworkConfig.from_dict({'nope': 1})

    @pytest.mark.parametrize('bad', [dict(resolution=48), dict(resolution=4),
                                     dict(architecture='gan'), dict(img_channels=0),
                                     dict(channel_base=8, resolution=64)])
    def test_invalid(self, bad):
        with pytest.raises(ValueError):
            NetworkConfig(**bad)

    def test_presets(self):
        assert set(CONFIGS) >= {'cpu-64', 'cpu-32', 'cpu-16', 'gpu-128', 'gpu-256', 'paper-256'}
        net, train = get_config('cpu-64')
        assert (net.channel_max, net.mapping_layers, net.img_channels, net.resolution) == \
            (128, 8, 3, 64)
        assert train.batch_size == 16 and train.loss == 'r1' and train.lazy_r1_interval == 16
        net, train = get_config('paper-256', img_channels=5, batch_size=8)
        assert net.architecture == 'stylegan' and net.img_channels == 5
        assert train.loss == 'wgangp' and train.gp_lambda == 10 and train.batch_size == 8
        assert TrainingDefaults.from_dict(train.to_dict()) == train
        with pytest.raises(ValueError, match='unknown StyleGAN config'):
            get_config('cpu-1024')
        with pytest.raises(ValueError, match='unknown config field'):
            get_config('cpu-64', banana=1)


class TestShapes:
    @pytest.mark.parametrize('arch', ARCHS)
    @pytest.mark.parametrize('resolution', [8, 16, 32, 64, 128, 256])
    @pytest.mark.parametrize('channels', [1, 3, 5])
    def test_generator_discriminator(self, arch, resolution, channels):
        cfg = tiny(arch, resolution, channels, channel_base=2 * resolution, channel_max=2,
                   mapping_layers=1)
        G, D = build_networks(cfg)
        assert G.num_ws == 2 * int(math.log2(resolution)) - 2
        z = torch.randn(2, G.z_dim)
        ws = G.mapping(z)
        assert ws.shape == (2, G.num_ws, G.w_dim)
        with torch.no_grad():
            img = G.synthesis(ws)
            assert img.shape == (2, channels, resolution, resolution)
            assert torch.isfinite(img).all()
            assert D(img).shape == (2, 1)

    def test_512(self):
        G, D = build_networks(tiny('stylegan2', 512, 1, channel_base=512, channel_max=1,
                                   mapping_layers=1))
        with torch.no_grad():
            img = G(torch.randn(1, G.z_dim), noise_mode='none')
            assert img.shape == (1, 1, 512, 512)
            assert D(img).shape == (1, 1)

    def test_kwargs_and_errors(self):
        G = Generator(resolution=8, z_dim=4, w_dim=4, mapping_layers=1, channel_base=16,
                      channel_max=2)
        assert (G.z_dim, G.w_dim, G.img_resolution, G.img_channels) == (4, 4, 8, 3)
        with pytest.raises(ValueError, match='z must have shape'):
            G(torch.randn(2, 5))
        with pytest.raises(ValueError, match='ws must have shape'):
            G.synthesis(torch.randn(2, 3, 4))
        with pytest.raises(ValueError, match='noise_mode'):
            G.synthesis(G.mapping(torch.randn(1, 4)), noise_mode='loud')
        D = Discriminator(G.config)
        with pytest.raises(ValueError, match='images must have shape'):
            D(torch.randn(2, 3, 16, 16))

    def test_initial_output_range(self):
        G = Generator(tiny('stylegan2', 32, 3, channel_base=1024, channel_max=32))
        with torch.no_grad():
            img = G(torch.randn(16, G.z_dim))
        assert 0.05 < img.std() < 3


class TestEqualizedLR:
    def test_fully_connected(self):
        layer = FullyConnected(200, 50, lr_mult=0.01, bias_init=0.5)
        # stored N(0, 1) / lr_mult, run-time scale lr_mult / sqrt(fan_in)
        assert abs(layer.weight.std().item() * 0.01 - 1) < 0.05
        torch.testing.assert_close(layer.bias * 0.01, torch.full([50], 0.5))
        x = torch.randn(7, 200)
        expect = x @ (layer.weight * 0.01 / math.sqrt(200)).t() + layer.bias * 0.01
        torch.testing.assert_close(layer(x), expect)

    def test_lr_mult_scales_gradient(self):
        a = FullyConnected(10, 3, lr_mult=1.0)
        b = FullyConnected(10, 3, lr_mult=0.1)
        with torch.no_grad():
            b.weight.copy_(a.weight / 0.1)
            b.bias.copy_(a.bias / 0.1)
        x = torch.randn(4, 10)
        torch.testing.assert_close(a(x), b(x))
        a(x).square().sum().backward()
        b(x).square().sum().backward()
        # same function, gradient w.r.t. the stored weight scaled by lr_mult
        torch.testing.assert_close(b.weight.grad, 0.1 * a.weight.grad)

    def test_conv_with_lrelu_gain(self):
        layer = Conv2dLayer(6, 4, 3, activation='lrelu')
        with torch.no_grad():
            layer.bias.normal_()
        x = torch.randn(2, 6, 8, 8)
        w = layer.weight / math.sqrt(6 * 9)
        expect = math.sqrt(2) * F.leaky_relu(F.conv2d(x, w, padding=1)
                                             + layer.bias.reshape(1, -1, 1, 1), 0.2)
        torch.testing.assert_close(layer(x), expect)
        torch.testing.assert_close(
            bias_act(F.conv2d(x, w, padding=1), layer.bias, activation='lrelu'), expect)

    def test_variance_preserved(self):
        layer = Conv2dLayer(64, 64, 3)
        x = torch.randn(8, 64, 16, 16)
        assert 0.8 < layer(x)[:, :, 1:-1, 1:-1].std() < 1.2

    def test_modulated_conv_equals_grouped_reference(self):
        mod = ModulatedConv2d(5, 4, 3, 8)
        x = torch.randn(3, 5, 6, 6)
        w = torch.randn(3, 8)
        s = mod.affine(w)
        weight = mod.weight / math.sqrt(5 * 9)
        ref = []
        for n in range(3):
            wn = weight * s[n].reshape(1, -1, 1, 1)
            wn = wn / wn.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
            ref.append(F.conv2d(x[n:n + 1], wn, padding=1))
        torch.testing.assert_close(mod(x, w), torch.cat(ref), rtol=1e-4, atol=1e-5)


class TestResampling:
    def test_upsample_conv_equals_bilinear_then_conv(self):
        x = torch.randn(2, 3, 8, 8)
        w = torch.randn(4, 3, 3, 3)
        fast = upsample_conv2d(x, w) * 4
        slow = F.conv2d(upsample2d(x), w.flip(2, 3), padding=1)
        assert fast.shape == (2, 4, 16, 16)
        # identical away from the borders (which differ by the padding only)
        torch.testing.assert_close(fast[..., 2:-2, 2:-2], slow[..., 2:-2, 2:-2],
                                   rtol=1e-4, atol=1e-4)

    def test_blur_is_normalized_fir(self):
        x = torch.zeros(1, 2, 7, 7)
        x[0, :, 3, 3] = 1.0
        y = blur2d(x, padding=2)  # 7 + 4 - 3 = 8
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        torch.testing.assert_close(y[0, 0, 2:6, 2:6], torch.outer(f, f) / 64)
        torch.testing.assert_close(y.sum(), torch.tensor(2.0))

    def test_modulated_up_equals_grouped_reference(self):
        mod = ModulatedConv2d(5, 4, 3, 8, up=True)
        x = torch.randn(3, 5, 6, 6)
        w = torch.randn(3, 8)
        s = mod.affine(w)
        weight = mod.weight / math.sqrt(5 * 9)
        ref = []
        for n in range(3):
            wn = weight * s[n].reshape(1, -1, 1, 1)
            wn = wn / wn.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
            ref.append(F.conv2d(upsample2d(x[n:n + 1]), wn.flip(2, 3), padding=1))
        out = mod(x, w)
        assert out.shape == (3, 4, 12, 12)
        torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.cat(ref)[..., 2:-2, 2:-2],
                                   rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize('up', [False, True])
    def test_fused_epilogue(self, up):
        mod = ModulatedConv2d(5, 4, 3, 8, up=up)
        x = torch.randn(3, 5, 6, 6)
        w = torch.randn(3, 8)
        b = torch.randn(4)
        size = 12 if up else 6
        noise = torch.randn(3, 1, size, size)
        fused = mod(x, w, bias=b, add=noise, activation='lrelu')
        torch.testing.assert_close(fused, bias_act(mod(x, w) + noise, b, activation='lrelu'))
        conv = Conv2dLayer(5, 4, 3, activation='lrelu', up=up)
        with torch.no_grad():
            conv.bias.normal_()
        plain = Conv2dLayer(5, 4, 3, bias=False, up=up)
        with torch.no_grad():
            plain.weight.copy_(conv.weight)
        torch.testing.assert_close(conv(x, add=noise),
                                   bias_act(plain(x) + noise, conv.bias, activation='lrelu'))

    @pytest.mark.parametrize('arch', ARCHS)
    def test_memory_format_does_not_change_results(self, arch):
        G, D = build_networks(tiny(arch, 16))
        z = torch.randn(4, G.z_dim)
        out = {}
        for fmt in (torch.contiguous_format, torch.channels_last):
            G.synthesis.memory_format = fmt
            D.memory_format = fmt
            img = G(z, noise_mode='const')
            out[fmt] = (img, D(img))
        a, b = out.values()
        torch.testing.assert_close(a[0], b[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a[1], b[1], rtol=1e-4, atol=1e-5)


class TestAdaIN:
    def test_formula(self):
        x = torch.randn(3, 5, 7, 7) * 3 + 2
        y_s = torch.randn(3, 5)
        y_b = torch.randn(3, 5)
        mu = x.mean(dim=(2, 3), keepdim=True)
        sigma = (x.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-8).sqrt()
        expect = y_s[:, :, None, None] * (x - mu) / sigma + y_b[:, :, None, None]
        torch.testing.assert_close(adain(x, y_s, y_b), expect, rtol=1e-5, atol=1e-5)

    def test_module_uses_affine_of_w(self):
        layer = AdaIN(4, 6)
        x = torch.randn(2, 4, 5, 5)
        w = torch.randn(2, 6)
        y_s, y_b = layer.affine_scale(w), layer.affine_bias(w)
        torch.testing.assert_close(layer(x, w), adain(x, y_s, y_b))
        out = layer(x, w)
        # each output map has the style's mean and |scale| as std
        torch.testing.assert_close(out.mean(dim=(2, 3)), y_b, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), y_s.abs(),
                                   rtol=1e-3, atol=1e-4)
        # scale bias initialized to 1, style bias to 0
        torch.testing.assert_close(layer.affine_scale.bias, torch.ones(4))


class TestMinibatchStd:
    def test_hand_computation(self):
        x = torch.randn(8, 6, 3, 3)
        out = MinibatchStdDev(group_size=4)(x)
        assert out.shape == (8, 7, 3, 3)
        torch.testing.assert_close(out[:, :6], x)
        for n in range(8):
            members = x[n % 2::2]  # group of sample n: same index modulo N / G
            std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
            torch.testing.assert_close(out[n, 6], torch.full((3, 3), std.item()))

    def test_group_size_adapts(self):
        x = torch.randn(6, 4, 2, 2)
        out = MinibatchStdDev(group_size=4)(x)  # 6 % 4 != 0 -> groups of 3
        members = x[0::2]
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[0, 4, 0, 0], std)
        assert MinibatchStdDev(group_size=4)(torch.randn(1, 4, 2, 2)).shape == (1, 5, 2, 2)

    def test_identical_samples(self):
        x = torch.randn(1, 3, 4, 4).repeat(4, 1, 1, 1)
        out = MinibatchStdDev(group_size=4)(x)
        assert out[:, 3].max() < 1e-3


class TestMapping:
    def test_truncation(self):
        G = Generator(tiny())
        w_avg = torch.randn(G.w_dim)
        G.mapping.w_avg.copy_(w_avg)
        z = torch.randn(4, G.z_dim)
        ws = G.mapping(z, truncation_psi=0)
        torch.testing.assert_close(ws, w_avg.expand_as(ws))
        ws1 = G.mapping(z)
        ws_half = G.mapping(z, truncation_psi=0.5)
        torch.testing.assert_close(ws_half, w_avg + 0.5 * (ws1 - w_avg))
        ws_cut = G.mapping(z, truncation_psi=0, truncation_cutoff=2)
        torch.testing.assert_close(ws_cut[:, :2], w_avg.expand(4, 2, -1))
        torch.testing.assert_close(ws_cut[:, 2:], ws1[:, 2:])
        assert not torch.allclose(ws1[:, 0], w_avg.expand(4, -1))

    def test_w_avg_update(self):
        G = Generator(tiny())
        z = torch.randn(16, G.z_dim)
        before = G.mapping.w_avg.clone()
        ws = G.mapping(z, update_w_avg=True)
        expect = before + (1 - 0.995) * (ws[:, 0].mean(0) - before)
        torch.testing.assert_close(G.mapping.w_avg, expect)
        G.mapping(z)
        torch.testing.assert_close(G.mapping.w_avg, expect)

    def test_all_ws_equal_without_mixing(self):
        G = Generator(tiny())
        ws = G.mapping(torch.randn(3, G.z_dim))
        assert torch.equal(ws, ws[:, :1].expand_as(ws))


class TestStyleMixing:
    def test_mix_styles(self):
        G = Generator(tiny(resolution=32))
        ws = G.mapping(torch.randn(3, G.z_dim))
        ws2 = G.mapping(torch.randn(3, G.z_dim))
        mixed = G.mix_styles(ws, ws2, 3)
        assert torch.equal(mixed[:, :3], ws[:, :3]) and torch.equal(mixed[:, 3:], ws2[:, 3:])
        mixed = G.mix_styles(ws, ws2, torch.tensor([1, 5, G.num_ws]))
        assert torch.equal(mixed[0, 1:], ws2[0, 1:]) and torch.equal(mixed[0, :1], ws[0, :1])
        assert torch.equal(mixed[1, 5:], ws2[1, 5:]) and torch.equal(mixed[1, :5], ws[1, :5])
        assert torch.equal(mixed[2], ws[2])

    def test_style_mix_switches_at_one_layer(self):
        G = Generator(tiny(resolution=32))
        z = torch.randn(64, G.z_dim)
        ws0 = G.mapping(z)
        ws = style_mix(G, z, prob=1.0, generator=torch.Generator().manual_seed(3))
        cutoffs = []
        for n in range(64):
            same = (ws[n] == ws0[n]).all(dim=1)
            c = int(same.long().sum())
            assert same[:c].all() and not same[c:].any()  # one switch point
            assert torch.equal(ws[n, c:], ws[n, -1:].expand(G.num_ws - c, -1))
            cutoffs.append(c)
        assert min(cutoffs) >= 1 and max(cutoffs) <= G.num_ws - 1
        assert len(set(cutoffs)) > 3
        ws = style_mix(G, z, prob=0.0, generator=torch.Generator().manual_seed(3))
        assert torch.equal(ws, ws0)
        ws = style_mix(G, z, prob=0.5, generator=torch.Generator().manual_seed(3))
        n_mixed = int((ws != ws0).flatten(1).any(dim=1).sum())
        assert 16 < n_mixed < 48

    def test_reproducible(self):
        G = Generator(tiny())
        z = torch.randn(4, G.z_dim)
        a = style_mix(G, z, generator=torch.Generator().manual_seed(1))
        b = style_mix(G, z, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b)


class TestNoise:
    def test_modes(self):
        G = Generator(tiny())
        with torch.no_grad():
            for p in G.parameters():
                if p.ndim == 0:  # noise strengths
                    p.fill_(0.5)
        ws = G.mapping(torch.randn(2, G.z_dim))
        with torch.no_grad():
            a = G.synthesis(ws, noise_mode='random', generator=torch.Generator().manual_seed(4))
            b = G.synthesis(ws, noise_mode='random', generator=torch.Generator().manual_seed(4))
            c = G.synthesis(ws, noise_mode='random', generator=torch.Generator().manual_seed(5))
            d = G.synthesis(ws, noise_mode='const')
            e = G.synthesis(ws, noise_mode='const')
            f = G.synthesis(ws, noise_mode='none')
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert torch.equal(d, e) and not torch.equal(d, f)
        # const noise is fixed by the config's noise seed
        G2 = Generator(tiny())
        for (n1, b1), (n2, b2) in zip(G.named_buffers(), G2.named_buffers(), strict=True):
            if 'noise_const' in n1:
                assert n1 == n2 and torch.equal(b1, b2)


class TestProgressiveGrowing:
    def _nets(self):
        G, D = build_networks(tiny('stylegan', 32, 3))
        with torch.no_grad():  # make every toRGB and noise matter
            for p in G.parameters():
                p.add_(0.1 * torch.randn_like(p))
        return G, D

    def test_fade_in_continuity(self):
        G, D = self._nets()
        z = torch.randn(3, G.z_dim)
        with torch.no_grad():
            G.set_growth(8, 1.0)
            old = G(z, noise_mode='const')
            assert old.shape == (3, 3, 8, 8)
            G.set_growth(16, 0.0)
            new0 = G(z, noise_mode='const')
            assert new0.shape == (3, 3, 16, 16)
            torch.testing.assert_close(new0, upsample2d(old))
            G.set_growth(16, 1.0)
            new1 = G(z, noise_mode='const')
            assert (new1 - new0).abs().max() > 1e-3
            outs = []
            for alpha in np.linspace(0, 1, 11):
                G.set_growth(16, float(alpha))
                outs.append(G(z, noise_mode='const'))
                torch.testing.assert_close(outs[-1], new0 + float(alpha) * (new1 - new0),
                                           rtol=1e-5, atol=1e-5)
            steps = [(b - a).abs().max().item() for a, b in zip(outs[:-1], outs[1:],
                                                                strict=True)]
            assert max(steps) <= 0.1 * (new1 - new0).abs().max().item() + 1e-6

    def test_discriminator_fade_in(self):
        G, D = self._nets()
        img = torch.randn(4, 3, 16, 16)
        with torch.no_grad():
            D.set_growth(8, 1.0)
            old = D(downsample_to(img, 8))
            D.set_growth(16, 0.0)
            torch.testing.assert_close(D(img), old)
            D.set_growth(16, 1.0)
            new = D(img)
            assert (new - old).abs().max() > 1e-3
            outs = []
            for alpha in np.linspace(0, 1, 21):
                D.set_growth(16, float(alpha))
                outs.append(D(img))
            torch.testing.assert_close(outs[-1], new)
            # D is nonlinear in alpha, but continuous: no jump between close alphas
            steps = torch.stack([(b - a).abs().max() for a, b in zip(outs[:-1], outs[1:],
                                                                     strict=True)])
            assert steps.max() < 0.25 * (new - old).abs().max()

    def test_every_growth_resolution(self):
        G, D = self._nets()
        z = torch.randn(2, G.z_dim)
        with torch.no_grad():
            for res in (4, 8, 16, 32):
                for alpha in (0.0, 0.5, 1.0):
                    G.set_growth(res, alpha)
                    D.set_growth(res, alpha)
                    img = G(z)
                    assert img.shape == (2, 3, res, res)
                    assert D(img).shape == (2, 1)

    def test_growth_checks(self):
        G, D = build_networks(tiny('stylegan2', 16))
        G.set_growth(16, 1.0)
        with pytest.raises(ValueError, match='does not grow'):
            G.set_growth(8, 1.0)
        with pytest.raises(ValueError, match='does not grow'):
            D.set_growth(8, 0.5)
        G, D = build_networks(tiny('stylegan', 16))
        with pytest.raises(ValueError, match='alpha'):
            G.set_growth(8, 1.5)
        with pytest.raises(ValueError, match='power of two'):
            D.set_growth(12, 1.0)
        with pytest.raises(ValueError, match='power of two'):
            D.set_growth(32, 1.0)

    def test_style_mixing_uses_active_layers(self):
        G, _ = self._nets()
        G.set_growth(8, 1.0)
        z = torch.randn(32, G.z_dim)
        ws = style_mix(G, z, prob=1.0, generator=torch.Generator().manual_seed(0))
        changed = (ws != G.mapping(z)).any(dim=2)
        # the switch is always inside the 4 layers used at 8x8
        assert changed[:, :4].any(dim=1).all()

    def test_downsample_to(self):
        img = torch.arange(16.0).reshape(1, 1, 4, 4)
        torch.testing.assert_close(downsample_to(img, 2),
                                   torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
        with pytest.raises(ValueError, match='cannot downsample'):
            downsample_to(img, 3)


class TestFreezing:
    @pytest.mark.parametrize('arch', ARCHS)
    def test_layer_names(self, arch):
        G = Generator(tiny(arch, 16))
        assert G.synthesis.layer_names() == ['b4.input', 'b4.conv1', 'b4.torgb',
                                             'b8.conv0', 'b8.conv1', 'b8.torgb',
                                             'b16.conv0', 'b16.conv1', 'b16.torgb']
        D = Discriminator(tiny(arch, 16))
        assert D.block_names() == ['b16', 'b8', 'b4']

    @pytest.mark.parametrize('arch', ARCHS)
    def test_freeze_generator(self, arch):
        G = Generator(tiny(arch, 16))
        frozen = freeze_generator(G, layers=2)
        assert 'synthesis.blocks.b4.const' in frozen
        assert all(n.startswith(('synthesis.blocks.b4.input', 'synthesis.blocks.b4.conv1',
                                 'synthesis.blocks.b4.const')) for n in frozen)
        assert any(n.startswith('synthesis.blocks.b4.conv1.conv') for n in frozen)
        for name, p in G.named_parameters():
            assert p.requires_grad == (name not in frozen)
        G = Generator(tiny(arch, 16))
        frozen = freeze_generator(G, blocks=2, mapping=True)
        expect = [n for n, _ in G.named_parameters()
                  if n.startswith(('synthesis.blocks.b4.', 'synthesis.blocks.b8.', 'mapping.'))]
        assert sorted(frozen) == sorted(expect)
        assert all(p.requires_grad for n, p in G.named_parameters() if n not in frozen)
        with pytest.raises(ValueError, match='layers must be'):
            freeze_generator(G, layers=99)

    def test_frozen_weights_unchanged_by_training(self):
        G, D = build_networks(tiny('stylegan2', 16))
        frozen_g = set(freeze_generator(G, layers=3))
        frozen_d = set(freeze_discriminator(D, blocks=1))
        before = {n: p.detach().clone() for n, p in
                  list(G.named_parameters()) + list(D.named_parameters())}
        params = [p for p in list(G.parameters()) + list(D.parameters()) if p.requires_grad]
        opt = torch.optim.Adam(params, lr=0.01)
        for _ in range(3):
            opt.zero_grad()
            D(G(torch.randn(4, G.z_dim))).square().mean().backward()
            opt.step()
        for name, p in list(G.named_parameters()) + list(D.named_parameters()):
            if name in frozen_g or name in frozen_d:
                assert torch.equal(p, before[name]), name
                assert p.grad is None
        changed = [n for n, p in G.named_parameters() if not torch.equal(p, before[n])]
        assert 'synthesis.blocks.b16.conv1.conv.weight' in changed

    @pytest.mark.parametrize('arch', ARCHS)
    def test_freeze_discriminator(self, arch):
        D = Discriminator(tiny(arch, 16))
        frozen = freeze_discriminator(D, blocks=1)
        assert 'blocks.b16.fromrgb.weight' in frozen and 'blocks.b16.conv0.weight' in frozen
        assert all(n.startswith('blocks.b16.') for n in frozen)
        frozen = freeze_discriminator(D, blocks=3)
        assert len(frozen) == sum(1 for _ in D.parameters())
        with pytest.raises(ValueError, match='blocks must be'):
            freeze_discriminator(D, blocks=4)
