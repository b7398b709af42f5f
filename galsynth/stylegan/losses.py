# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
GAN losses and regularizers for the StyleGAN trainer.

`WGANGPLoss` is the method's loss (Wasserstein critic with gradient penalty
and drift term); `NonSaturatingR1Loss` is StyleGAN2's non-saturating logistic
loss with lazy R1 regularization and optional path-length regularization.

Both share one interface for the training loop: ``loss.phases`` lists
``(name, 'G' | 'D', interval)`` and ``loss.compute(phase, real_img,
generator=...)`` returns ``(loss_tensor, stats)``; the caller runs the
backward pass and the optimizer step of the phase's network every
``interval`` minibatches. Lazy regularization terms are already multiplied
by their interval. With lazy regularization the optimizer of that network
should use ``lr * ratio`` and ``betas ** ratio`` with
``ratio = lazy_ratio(interval)`` (as in StyleGAN2).
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from .networks import style_mix

__all__ = ['WGANGPLoss', 'NonSaturatingR1Loss', 'gradient_penalty', 'r1_penalty', 'lazy_ratio']


def lazy_ratio(interval):
    """
    Optimizer correction for lazy regularization: ``interval / (interval + 1)``.

    Parameters
    ----------
    interval : int or None
        Regularization interval (None or 0: not lazy).

    Returns
    -------
    ratio : float
    """
    if not interval:
        return 1.0
    return interval / (interval + 1)


@contextlib.contextmanager
def _no_param_grad(module):
    """Turn off gradients of a module's parameters, restoring each flag afterwards."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _randn(shape, generator, device, dtype=torch.float32):
    dev = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=dev, dtype=dtype).to(device)


def _rand(shape, generator, device, dtype=torch.float32):
    dev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=dev, dtype=dtype).to(device)


def gradient_penalty(D, real, fake, *, generator=None, alpha=None, target=1.0):
    """
    WGAN-GP gradient penalty ``mean_n (||grad_x D(x_hat_n)||_2 - target)^2``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U(0, 1)``
    per sample; the norm is over all pixels and channels of a sample.

    Parameters
    ----------
    D : callable
        Critic, images ``[N, ...]`` -> scores ``[N, ...]``.
    real, fake : `torch.Tensor`
        Real and generated images ``[N, C, H, W]`` (treated as constants).
    generator : `torch.Generator` or None
        Draws ``alpha``.
    alpha : `torch.Tensor` or None
        Interpolation weights ``[N]`` (drawn if None).
    target : float
        Target gradient norm.

    Returns
    -------
    penalty : `torch.Tensor`
        Scalar, differentiable w.r.t. the critic's parameters.
    """
    n = real.shape[0]
    if alpha is None:
        alpha = _rand([n], generator, real.device, real.dtype)
    alpha = alpha.reshape([n] + [1] * (real.ndim - 1)).to(real.dtype)
    x_hat = torch.lerp(fake.detach().to(real.dtype), real.detach(), alpha).requires_grad_(True)
    scores = D(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return (norm - target).square().mean()


def r1_penalty(D, real):
    """
    R1 penalty ``mean_n ||grad_x D(x_n)||^2`` on real images.

    Parameters
    ----------
    D : callable
        Discriminator (augmentation included, if any).
    real : `torch.Tensor`
        Real images ``[N, C, H, W]``.

    Returns
    -------
    penalty : `torch.Tensor`
        Scalar.
    logits : `torch.Tensor`
        ``D(real)``, detached.
    """
    x = real.detach().requires_grad_(True)
    logits = D(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.square().flatten(1).sum(dim=1).mean(), logits.detach()


class _GANLoss:
    """Shared machinery: latents, fakes, augmentation, phase bookkeeping."""

    def __init__(self, G, D, *, style_mixing_prob=0.9, augment_pipe=None):
        self.G = G
        self.D = D
        self.style_mixing_prob = style_mixing_prob
        self.augment_pipe = augment_pipe

    @property
    def phases(self):
        """list of (str, str, int): ``(phase, 'G' or 'D', interval)`` in execution order."""
        raise NotImplementedError

    def _phase_names(self):
        return [p[0] for p in self.phases]

    def _check_phase(self, phase):
        if phase not in self._phase_names():
            msg = f'unknown phase {phase!r}; this loss has {self._phase_names()}'
            raise ValueError(msg)

    def run_D(self, img, *, generator=None):
        """
        Discriminator scores of (augmented) images.

        Parameters
        ----------
        img : `torch.Tensor`
            Images.
        generator : `torch.Generator` or None
            Draws the augmentation.

        Returns
        -------
        logits : `torch.Tensor`
        """
        if self.augment_pipe is not None:
            img = self.augment_pipe(img, generator=generator)
        return self.D(img)

    def run_G(self, n, device, *, generator=None, update_w_avg=True):
        """
        Generate images with style mixing and random noise.

        Parameters
        ----------
        n : int
            Number of images.
        device : `torch.device`
            Device.
        generator : `torch.Generator` or None
            Draws z, mixing and noise.
        update_w_avg : bool
            Update the generator's moving average of w.

        Returns
        -------
        img : `torch.Tensor`
        ws : `torch.Tensor`
        """
        z = _randn([n, self.G.z_dim], generator, device)
        ws = style_mix(self.G, z, prob=self.style_mixing_prob, generator=generator,
                       update_w_avg=update_w_avg)
        img = self.G.synthesis(ws, noise_mode='random', generator=generator)
        return img, ws

    def _fakes_for_D(self, n, device, generator):
        with torch.no_grad():
            img, _ = self.run_G(n, device, generator=generator, update_w_avg=False)
        return img

    def state_dict(self):
        """dict: state to checkpoint (empty unless the loss has running statistics)."""
        return {}

    def load_state_dict(self, state):
        """Restore `state_dict`."""

    def compute(self, phase, real_img, *, generator=None):
        """
        Loss of one phase.

        Parameters
        ----------
        phase : str
            One of the names in `phases`.
        real_img : `torch.Tensor`
            Real images ``[N, C, R, R]`` at the current resolution (G phases
            use only their number and device).
        generator : `torch.Generator` or None
            Draws latents, noise, mixing, interpolation and augmentation.

        Returns
        -------
        loss : `torch.Tensor`
            Scalar to back-propagate (regularization already scaled by its interval).
        stats : dict
            Floats for logging; ``Dmain`` also gives ``'real_logits'`` (a
            detached tensor, for adaptive augmentation).

        Raises
        ------
        ValueError
            For an unknown phase.
        """
        self._check_phase(phase)
        return getattr(self, f'_{phase}')(real_img, generator)


class WGANGPLoss(_GANLoss):
    """
    WGAN-GP loss of the method (StyleGAN 2019 / ProGAN).

    Critic: ``D(fake) - D(real) + gp_lambda * (||grad D(x_hat)|| - 1)^2 +
    drift * D(real)^2`` (batch means); generator: ``-D(fake)``.

    Parameters
    ----------
    G : `~galsynth.stylegan.networks.Generator`
        Generator.
    D : `~galsynth.stylegan.networks.Discriminator`
        Critic.
    gp_lambda : float
        Gradient-penalty weight.
    drift : float
        Drift weight (keeps the critic's scores near 0).
    style_mixing_prob : float
        Style-mixing probability.
    augment_pipe : callable or None
        Augmentation applied to every image the critic sees (reals, fakes
        and interpolates are augmented before the critic).
    """

    def __init__(self, G, D, *, gp_lambda=10.0, drift=1e-3, style_mixing_prob=0.9,
                 augment_pipe=None):
        super().__init__(G, D, style_mixing_prob=style_mixing_prob, augment_pipe=augment_pipe)
        self.gp_lambda = gp_lambda
        self.drift = drift

    @property
    def phases(self):
        return [('Gmain', 'G', 1), ('Dmain', 'D', 1)]

    def _Gmain(self, real_img, generator):
        img, _ = self.run_G(real_img.shape[0], real_img.device, generator=generator)
        with _no_param_grad(self.D):
            scores = self.run_D(img, generator=generator)
        loss = -scores.mean()
        return loss, {'loss/G': loss.item(), 'scores/fake': scores.detach().mean().item()}

    def _Dmain(self, real_img, generator):
        n = real_img.shape[0]
        fake = self._fakes_for_D(n, real_img.device, generator)
        if self.augment_pipe is not None:
            real_aug = self.augment_pipe(real_img, generator=generator)
            fake_aug = self.augment_pipe(fake, generator=generator)
        else:
            real_aug, fake_aug = real_img, fake
        real_scores = self.D(real_aug)
        fake_scores = self.D(fake_aug)
        wdist = real_scores.mean() - fake_scores.mean()
        gp = gradient_penalty(self.D, real_aug, fake_aug, generator=generator)
        drift = real_scores.square().mean()
        loss = -wdist + self.gp_lambda * gp + self.drift * drift
        stats = {'loss/D': loss.item(), 'loss/gp': gp.item(), 'loss/drift': drift.item(),
                 'wdist': wdist.item(),
                 'scores/real': real_scores.detach().mean().item(),
                 'scores/fake': fake_scores.detach().mean().item(),
                 'real_logits': real_scores.detach()}
        return loss, stats


class NonSaturatingR1Loss(_GANLoss):
    """
    Non-saturating logistic loss with lazy R1 and optional path-length regularization.

    Generator: ``softplus(-D(G(z)))``; discriminator:
    ``softplus(D(fake)) + softplus(-D(real))``; R1 (phase ``Dreg``, every
    ``r1_interval`` minibatches): ``r1_gamma / 2 * ||grad D(real)||^2 *
    r1_interval``; path length (phase ``Gpl``, every ``pl_interval``):
    ``pl_weight * (|J_w^T y| - a)^2 * pl_interval`` with ``a`` a moving
    average of the lengths.

    Parameters
    ----------
    G : `~galsynth.stylegan.networks.Generator`
        Generator.
    D : `~galsynth.stylegan.networks.Discriminator`
        Discriminator.
    r1_gamma : float
        R1 weight (0 disables the ``Dreg`` phase).
    r1_interval : int
        Lazy R1 interval (1: every minibatch).
    pl_weight : float
        Path-length weight (0 disables the ``Gpl`` phase).
    pl_interval : int
        Path-length interval.
    pl_decay : float
        Decay of the moving average of path lengths.
    pl_batch_shrink : int
        The path-length phase uses ``N // pl_batch_shrink`` images.
    style_mixing_prob : float
        Style-mixing probability.
    augment_pipe : callable or None
        Augmentation applied to every image the discriminator sees.
    """

    def __init__(self, G, D, *, r1_gamma=10.0, r1_interval=16, pl_weight=0.0, pl_interval=4,
                 pl_decay=0.01, pl_batch_shrink=2, style_mixing_prob=0.9, augment_pipe=None):
        super().__init__(G, D, style_mixing_prob=style_mixing_prob, augment_pipe=augment_pipe)
        for name, value in (('r1_interval', r1_interval), ('pl_interval', pl_interval),
                            ('pl_batch_shrink', pl_batch_shrink)):
            if int(value) != value or value < 1:
                msg = f'{name} must be a positive integer, got {value!r}'
                raise ValueError(msg)
        self.r1_gamma = r1_gamma
        self.r1_interval = int(r1_interval)
        self.pl_weight = pl_weight
        self.pl_interval = int(pl_interval)
        self.pl_decay = pl_decay
        self.pl_batch_shrink = int(pl_batch_shrink)
        self.pl_mean = torch.zeros([])

    @property
    def phases(self):
        phases = [('Gmain', 'G', 1)]
        if self.pl_weight > 0:
            phases.append(('Gpl', 'G', self.pl_interval))
        phases.append(('Dmain', 'D', 1))
        if self.r1_gamma > 0:
            phases.append(('Dreg', 'D', self.r1_interval))
        return phases

    def state_dict(self):
        return {'pl_mean': float(self.pl_mean)}

    def load_state_dict(self, state):
        self.pl_mean = torch.tensor(float(state['pl_mean']))

    def _Gmain(self, real_img, generator):
        img, _ = self.run_G(real_img.shape[0], real_img.device, generator=generator)
        with _no_param_grad(self.D):
            logits = self.run_D(img, generator=generator)
        loss = F.softplus(-logits).mean()
        return loss, {'loss/G': loss.item(), 'scores/fake': logits.detach().mean().item()}

    def _Gpl(self, real_img, generator):
        n = max(1, real_img.shape[0] // self.pl_batch_shrink)
        img, ws = self.run_G(n, real_img.device, generator=generator, update_w_avg=False)
        y = _randn(img.shape, generator, img.device, img.dtype) / np.sqrt(img.shape[2] *
                                                                           img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean.to(lengths.device).lerp(lengths.detach().mean(), self.pl_decay)
        self.pl_mean = pl_mean.detach()
        penalty = (lengths - pl_mean).square().mean()
        loss = penalty * self.pl_weight * self.pl_interval
        return loss, {'loss/pl': penalty.item(), 'pl_mean': float(pl_mean)}

    def _Dmain(self, real_img, generator):
        fake = self._fakes_for_D(real_img.shape[0], real_img.device, generator)
        fake_logits = self.run_D(fake, generator=generator)
        real_logits = self.run_D(real_img, generator=generator)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        return loss, {'loss/D': loss.item(),
                      'scores/real': real_logits.detach().mean().item(),
                      'scores/fake': fake_logits.detach().mean().item(),
                      'real_logits': real_logits.detach()}

    def _Dreg(self, real_img, generator):
        penalty, _ = r1_penalty(lambda x: self.run_D(x, generator=generator), real_img)
        loss = penalty * (self.r1_gamma / 2) * self.r1_interval
        return loss, {'loss/r1': penalty.item()}
