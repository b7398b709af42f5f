# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the galaxy-exact augmentation and of adaptive augmentation."""

import numpy as np
import pytest
import torch

from galsynth.stylegan.augment import AdaptiveAugment, AugmentPipe


def known(n=1, c=2, size=5):
    return torch.arange(n * c * size * size, dtype=torch.float32).reshape(n, c, size, size)


def params(n, *, flip=False, k=0, tx=0, ty=0, rot45=False):
    def full(v, dtype):
        return torch.full([n], v, dtype=dtype)
    return dict(flip=full(flip, torch.bool), k=full(k, torch.int64), tx=full(tx, torch.int64),
                ty=full(ty, torch.int64), rot45=full(rot45, torch.bool))


class TestAugmentPipe:
    def test_p0_identity(self):
        x = torch.randn(4, 3, 8, 8)
        pipe = AugmentPipe(0.0, rotate45=True)
        assert pipe(x, generator=torch.Generator().manual_seed(0)) is x

    def test_flip_known_array(self):
        x = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]])
        y = AugmentPipe(1.0).apply(x, params(1, flip=True))
        assert torch.equal(y, torch.tensor([[[[3.0, 2.0, 1.0], [6.0, 5.0, 4.0],
                                               [9.0, 8.0, 7.0]]]]))

    @pytest.mark.parametrize('size', [4, 5])
    def test_rot90_exact(self, size):
        x = known(size=size)
        pipe = AugmentPipe(1.0)
        for k in range(4):
            y = pipe.apply(x, params(1, k=k))
            assert torch.equal(y, torch.rot90(x, k, dims=(-2, -1)))
            assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)
            back = pipe.apply(y, params(1, k=(4 - k) % 4))
            assert torch.equal(back, x)  # exact inverse
        y = pipe.apply(x, params(1, k=1))
        assert torch.equal(y[0, 0], torch.tensor(np.rot90(x[0, 0].numpy()).copy()))
        # flip then rotate: a flip undoes itself after the inverse rotation
        y = pipe.apply(x, params(1, flip=True, k=3))
        assert torch.equal(torch.rot90(y, 1, dims=(-2, -1)).flip(-1), x)

    def test_random_draws_are_dihedral(self):
        x = torch.randn(1, 3, 6, 6).repeat(200, 1, 1, 1)
        pipe = AugmentPipe(1.0, translate=0)
        y = pipe(x, generator=torch.Generator().manual_seed(1))
        group = [torch.rot90(x[0] if not f else x[0].flip(-1), k, dims=(-2, -1))
                 for f in (False, True) for k in range(4)]
        counts = np.zeros(8, int)
        for img in y:
            matches = [i for i, g in enumerate(group) if torch.equal(img, g)]
            assert len(matches) == 1
            counts[matches[0]] += 1
        assert counts.min() > 10  # all 8 symmetries occur

    def test_translation_fills(self):
        x = known(c=1, size=5)
        row = x[0, 0]
        y = AugmentPipe(1.0, fill='reflect').apply(x, params(1, tx=2, ty=-1))
        ref = np.pad(row.numpy(), ((1, 1), (2, 2)), mode='reflect')[2:7, 0:5]
        assert torch.equal(y[0, 0], torch.tensor(ref))
        y = AugmentPipe(1.0, fill='wrap').apply(x, params(1, tx=2, ty=-1))
        assert torch.equal(y, torch.roll(x, (-1, 2), dims=(-2, -1)))
        y = AugmentPipe(1.0, fill='zero').apply(x, params(1, tx=2, ty=-1))
        assert torch.equal(y[0, 0, :4, 2:], row[1:, :3]) and y[0, 0, :, :2].abs().sum() == 0
        assert y[0, 0, 4].abs().sum() == 0

    def test_translation_range(self):
        pipe = AugmentPipe(1.0, rotate90=False, flip=False, translate=0.125)
        prm = pipe.sample_params(500, 32, generator=torch.Generator().manual_seed(0))
        assert prm['tx'].abs().max() == 4 and prm['ty'].abs().max() == 4
        assert prm['k'].abs().max() == 0 and not prm['flip'].any()

    def test_probability(self):
        pipe = AugmentPipe(0.3, translate=0)
        prm = pipe.sample_params(4000, 8, generator=torch.Generator().manual_seed(0))
        assert 0.13 < prm['flip'].float().mean() < 0.17  # p * 1/2
        # applied with p, then k uniform in 0..3: P(k != 0) = 0.3 * 3/4
        assert 0.2 < (prm['k'] != 0).float().mean() < 0.25

    def test_same_distribution_for_reals_and_fakes(self):
        pipe = AugmentPipe(0.5, rotate45=True)
        a = pipe.sample_params(16, 8, generator=torch.Generator().manual_seed(2))
        b = pipe.sample_params(16, 8, generator=torch.Generator().manual_seed(2))
        assert all(torch.equal(a[k], b[k]) for k in a)
        reals, fakes = torch.randn(16, 3, 8, 8), torch.randn(16, 3, 8, 8)
        ya = pipe.apply(reals, a)
        yb = pipe.apply(fakes, b)
        both = pipe.apply(torch.cat([reals, fakes]), {k: torch.cat([a[k], b[k]]) for k in a})
        assert torch.equal(both, torch.cat([ya, yb]))

    def test_differentiable(self):
        x = torch.randn(3, 2, 6, 6, requires_grad=True)
        w = torch.randn(3, 2, 6, 6)
        pipe = AugmentPipe(1.0, fill='wrap')
        prm = pipe.sample_params(3, 6, generator=torch.Generator().manual_seed(0))
        (pipe.apply(x, prm) * w).sum().backward()
        # a permutation: the gradient is the weights moved back to the input pixels
        torch.testing.assert_close(x.grad.sum(dim=(2, 3)), w.sum(dim=(2, 3)))
        torch.testing.assert_close(x.grad.flatten(1).sort().values,
                                   w.flatten(1).sort().values)

    def test_rotate45(self):
        yy, xx = np.mgrid[:33, :33] - 16.0
        disk = torch.tensor(np.exp(-(xx ** 2 + yy ** 2) / 30.0), dtype=torch.float32)
        bar = torch.tensor(np.exp(-(xx ** 2 / 60.0 + yy ** 2 / 4.0)), dtype=torch.float32)
        x = torch.stack([disk, bar]).unsqueeze(1)
        y = AugmentPipe(1.0).apply(x, params(2, rot45=True))
        inside = torch.tensor(xx ** 2 + yy ** 2 < 15.5 ** 2)  # corners: reflected fill
        assert (y[0, 0] - x[0, 0])[inside].abs().max() < 0.02  # round galaxy unchanged
        assert (y[1] - x[1]).abs().max() > 0.5  # bar turned
        diag = torch.tensor(np.exp(-((xx - yy) ** 2 / 120.0 + (xx + yy) ** 2 / 8.0)),
                            dtype=torch.float32)
        assert (y[1, 0] - diag)[inside].abs().max() < 0.05  # ... onto the anti-diagonal

    def test_errors(self):
        with pytest.raises(ValueError, match='probability'):
            AugmentPipe(1.5)
        with pytest.raises(ValueError, match='fill'):
            AugmentPipe(0.5, fill='nearest')
        with pytest.raises(ValueError, match='square'):
            AugmentPipe(1.0).apply(torch.randn(1, 1, 4, 6), params(1, k=1))


class TestAdaptiveAugment:
    def test_p_moves_toward_target(self):
        ada = AdaptiveAugment(AugmentPipe(0.0), target=0.6, speed_kimg=1, interval=4)
        overfit = torch.ones(16, 1)  # D confident on reals: sign mean 1 > 0.6
        for _ in range(3):
            assert ada.update(overfit, 16) == 0.0  # adjusted every 4 calls
        assert ada.update(overfit, 16) == pytest.approx(64 / 1000)
        assert ada.rt == 1.0
        for _ in range(4):
            ada.update(-torch.ones(16, 1), 16)  # sign mean -1 < target: p goes down
        assert ada.p == pytest.approx(0.0)
        for _ in range(8):
            ada.update(-torch.ones(16, 1), 16)
        assert ada.p == 0.0  # clipped

    def test_reaches_one_and_applies_pipe(self):
        ada = AdaptiveAugment(AugmentPipe(0.9), target=0.6, speed_kimg=0.01, interval=1)
        ada.update(torch.tensor([1.0, 1.0, 1.0, -1.0, 1.0, 1.0]), 6)  # r_t = 2/3
        assert ada.p == 1.0
        x = torch.randn(2, 1, 4, 4)
        assert ada(x, generator=torch.Generator().manual_seed(0)).shape == x.shape

    def test_state_dict(self):
        a = AdaptiveAugment(AugmentPipe(0.1), speed_kimg=1, interval=4)
        b = AdaptiveAugment(AugmentPipe(0.0), speed_kimg=1, interval=4)
        logits = torch.linspace(-1, 3, 10).reshape(-1, 1)
        for _ in range(6):
            a.update(logits, 10)
        b.load_state_dict(a.state_dict())
        for _ in range(5):
            assert a.update(logits, 10) == b.update(logits, 10)
        assert a.state_dict() == b.state_dict()
