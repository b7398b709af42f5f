# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the GAN losses and regularizers."""

import math

import pytest
import torch
from torch import nn

from galsynth.stylegan.augment import AugmentPipe
from galsynth.stylegan.configs import NetworkConfig
from galsynth.stylegan.losses import (
    NonSaturatingR1Loss,
    WGANGPLoss,
    gradient_penalty,
    lazy_ratio,
    r1_penalty,
)
from galsynth.stylegan.networks import build_networks, freeze_discriminator


class QuadraticCritic(nn.Module):
    """D(x) = sum(a * x**2) per sample: gradient 2 a x."""

    def __init__(self, shape):
        super().__init__()
        self.a = nn.Parameter(torch.randn(shape))

    def forward(self, x):
        return (self.a * x.square()).flatten(1).sum(dim=1, keepdim=True)


class LinearCritic(nn.Module):
    """D(x) = sum(a * x) per sample: gradient a everywhere."""

    def __init__(self, shape):
        super().__init__()
        self.a = nn.Parameter(torch.randn(shape) * 0.1)

    def forward(self, x):
        return (self.a * x).flatten(1).sum(dim=1, keepdim=True)


def tiny_nets(arch='stylegan2'):
    cfg = NetworkConfig(architecture=arch, resolution=8, img_channels=2, z_dim=8, w_dim=8,
                        mapping_layers=2, channel_base=32, channel_max=4, mbstd_group_size=2)
    return build_networks(cfg)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class TestGradientPenalty:
    def test_hand_computation(self):
        D = QuadraticCritic((2, 3, 3))
        real = torch.randn(5, 2, 3, 3)
        fake = torch.randn(5, 2, 3, 3)
        alpha = torch.rand(5)
        gp = gradient_penalty(D, real, fake, alpha=alpha)
        expect = 0.0
        for n in range(5):
            x_hat = alpha[n] * real[n] + (1 - alpha[n]) * fake[n]
            grad = 2 * D.a.detach() * x_hat
            expect += (math.sqrt(float(grad.square().sum())) - 1) ** 2 / 5
        assert gp.item() == pytest.approx(expect, rel=1e-5)

    def test_alpha_from_generator(self):
        D = QuadraticCritic((1, 4, 4))
        real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
        gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(7))
        alpha = torch.rand(3, generator=torch.Generator().manual_seed(7))
        assert gp.item() == pytest.approx(gradient_penalty(D, real, fake, alpha=alpha).item())

    def test_linear_critic_and_gradient(self):
        D = LinearCritic((1, 4, 4))
        real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
        gp = gradient_penalty(D, real, fake)
        norm = D.a.detach().norm()
        assert gp.item() == pytest.approx(float((norm - 1) ** 2), rel=1e-5)
        gp.backward()  # d/da (|a| - 1)^2 = 2 (|a| - 1) a / |a|
        torch.testing.assert_close(D.a.grad, 2 * (norm - 1) * D.a.detach() / norm)

    def test_r1_hand_computation(self):
        D = QuadraticCritic((2, 3, 3))
        real = torch.randn(4, 2, 3, 3)
        penalty, logits = r1_penalty(D, real)
        expect = (2 * D.a.detach() * real).square().flatten(1).sum(1).mean()
        assert penalty.item() == pytest.approx(expect.item(), rel=1e-5)
        torch.testing.assert_close(logits, D(real).detach())


class TestWGANGP:
    def test_phases(self):
        G, D = tiny_nets()
        loss = WGANGPLoss(G, D)
        assert loss.phases == [('Gmain', 'G', 1), ('Dmain', 'D', 1)]
        with pytest.raises(ValueError, match='unknown phase'):
            loss.compute('Dreg', torch.randn(2, 2, 8, 8))

    def test_critic_loss_terms(self):
        G, _ = tiny_nets()
        D = LinearCritic((2, 8, 8))
        loss = WGANGPLoss(G, D, gp_lambda=10.0, drift=1e-3)
        real = torch.randn(4, 2, 8, 8)
        value, stats = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(0))
        real_scores = D(real).detach()
        gp = (D.a.detach().norm() - 1) ** 2  # exact for a linear critic
        expect = (stats['scores/fake'] - real_scores.mean() + 10 * gp
                  + 1e-3 * real_scores.square().mean())
        assert value.item() == pytest.approx(expect.item(), rel=1e-5)
        assert stats['scores/real'] == pytest.approx(real_scores.mean().item(), rel=1e-5)
        torch.testing.assert_close(stats['real_logits'], real_scores)

    @pytest.mark.parametrize('arch', ['stylegan2', 'stylegan'])
    def test_gradients_go_to_the_phase_network(self, arch):
        G, D = tiny_nets(arch)
        loss = WGANGPLoss(G, D)
        real = torch.randn(4, 2, 8, 8)
        value, _ = loss.compute('Gmain', real, generator=torch.Generator().manual_seed(0))
        value.backward()
        assert all(p.grad is None for p in D.parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
        assert all(p.requires_grad for p in D.parameters())
        G.zero_grad(set_to_none=True)
        value, _ = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(0))
        value.backward()
        assert all(p.grad is None for p in G.parameters())
        # (the 4x4 fromRGB of a progressive D is unused at full resolution)
        assert all(p.grad is not None for n, p in D.named_parameters()
                   if not n.startswith('blocks.b4.fromrgb'))

    def test_deterministic(self):
        G, D = tiny_nets()
        loss = WGANGPLoss(G, D, augment_pipe=AugmentPipe(0.5))
        real = torch.randn(4, 2, 8, 8)
        a, _ = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(3))
        b, _ = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(3))
        c, _ = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(4))
        assert a.item() == b.item() != c.item()


class TestNonSaturatingR1:
    def test_phases(self):
        G, D = tiny_nets()
        loss = NonSaturatingR1Loss(G, D, r1_gamma=1.0, r1_interval=16, pl_weight=2.0,
                                   pl_interval=4)
        assert loss.phases == [('Gmain', 'G', 1), ('Gpl', 'G', 4), ('Dmain', 'D', 1),
                               ('Dreg', 'D', 16)]
        assert NonSaturatingR1Loss(G, D, r1_gamma=0).phases == [('Gmain', 'G', 1),
                                                                 ('Dmain', 'D', 1)]
        assert lazy_ratio(16) == pytest.approx(16 / 17) and lazy_ratio(None) == 1
        with pytest.raises(ValueError, match='r1_interval'):
            NonSaturatingR1Loss(G, D, r1_interval=0)

    def test_lazy_r1_scaled_by_interval(self):
        G, _ = tiny_nets()
        D = QuadraticCritic((2, 8, 8))
        real = torch.randn(4, 2, 8, 8)
        loss = NonSaturatingR1Loss(G, D, r1_gamma=0.5, r1_interval=16)
        value, stats = loss.compute('Dreg', real)
        penalty = (2 * D.a.detach() * real).square().flatten(1).sum(1).mean()
        assert stats['loss/r1'] == pytest.approx(penalty.item(), rel=1e-5)
        assert value.item() == pytest.approx(0.5 / 2 * 16 * penalty.item(), rel=1e-5)

    def test_main_losses(self):
        G, D = tiny_nets()
        loss = NonSaturatingR1Loss(G, D)
        real = torch.randn(4, 2, 8, 8)
        value, stats = loss.compute('Dmain', real, generator=torch.Generator().manual_seed(0))
        real_logits = stats['real_logits']
        torch.testing.assert_close(real_logits, D(real).detach())
        assert value.item() > torch.nn.functional.softplus(-real_logits).mean().item()
        value.backward()
        assert all(p.grad is None for p in G.parameters())
        value, stats = loss.compute('Gmain', real, generator=torch.Generator().manual_seed(0))
        assert value.item() == pytest.approx(
            torch.nn.functional.softplus(-torch.tensor(stats['scores/fake'])).item(), rel=0.2)

    def test_frozen_flags_survive(self):
        G, D = tiny_nets()
        frozen = set(freeze_discriminator(D, blocks=1))
        loss = NonSaturatingR1Loss(G, D)
        value, _ = loss.compute('Gmain', torch.randn(4, 2, 8, 8))
        value.backward()
        for name, p in D.named_parameters():
            assert p.requires_grad == (name not in frozen)

    def test_path_length(self):
        G, D = tiny_nets('stylegan')
        loss = NonSaturatingR1Loss(G, D, pl_weight=2.0, pl_interval=4)
        real = torch.randn(4, 2, 8, 8)
        value, stats = loss.compute('Gpl', real, generator=torch.Generator().manual_seed(0))
        value.backward()
        assert stats['pl_mean'] > 0
        assert value.item() == pytest.approx(stats['loss/pl'] * 2 * 4, rel=1e-5)
        state = loss.state_dict()
        other = NonSaturatingR1Loss(G, D, pl_weight=2.0)
        other.load_state_dict(state)
        assert float(other.pl_mean) == pytest.approx(stats['pl_mean'])

    def test_w_avg_tracked_in_generator_phase(self):
        G, D = tiny_nets()
        loss = NonSaturatingR1Loss(G, D)
        before = G.mapping.w_avg.clone()
        loss.compute('Dmain', torch.randn(4, 2, 8, 8))
        assert torch.equal(G.mapping.w_avg, before)
        loss.compute('Gmain', torch.randn(4, 2, 8, 8))
        assert not torch.equal(G.mapping.w_avg, before)

    def test_a_few_steps_reduce_the_d_loss(self):
        G, D = tiny_nets()
        loss = NonSaturatingR1Loss(G, D, r1_gamma=0.01, r1_interval=2)
        opt = torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.0, 0.99))
        real = torch.randn(8, 2, 8, 8) * 0.1 + 1.0
        gen = torch.Generator().manual_seed(0)
        first = None
        for step in range(8):
            for name, net, interval in loss.phases:
                if net == 'D' and step % interval == 0:
                    opt.zero_grad(set_to_none=True)
                    value, stats = loss.compute(name, real, generator=gen)
                    value.backward()
                    opt.step()
                    if name == 'Dmain' and first is None:
                        first = stats['loss/D']
        assert stats['loss/D'] < first
