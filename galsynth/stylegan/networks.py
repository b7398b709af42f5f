# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
StyleGAN generator and discriminator.

Two architectures, selected by `~galsynth.stylegan.configs.NetworkConfig`:

``'stylegan'``
    The method's network (StyleGAN 2019): learned 4x4 constant, per-pixel
    noise with a learned per-channel scale, AdaIN from a learned affine map of
    w after every convolution, a 1x1 toRGB convolution per resolution, and
    progressive growing from 8x8 with a fade-in (`Generator.set_growth`,
    `Discriminator.set_growth`); the discriminator mirrors it with one 1x1
    fromRGB per resolution.
``'stylegan2'``
    Modulated/demodulated convolutions, skip-connection generator (toRGB
    outputs summed over resolutions), residual discriminator, no progressive
    growing.

Both use the mapping network (`MappingNetwork`), equalized learning rate, the
minibatch standard deviation in the discriminator, style mixing
(`style_mix`) and the truncation trick. Freezing for fine-tuning:
`freeze_generator` and `freeze_discriminator`.
"""

import math

import torch
from torch import nn

from .configs import NetworkConfig
from .layers import (
    AdaIN,
    Conv2dLayer,
    FullyConnected,
    MinibatchStdDev,
    ModulatedConv2d,
    NoiseInjection,
    bias_act,
    downsample2d,
    upsample2d,
)

__all__ = [
    'MappingNetwork',
    'SynthesisNetwork',
    'Generator',
    'Discriminator',
    'build_networks',
    'style_mix',
    'downsample_to',
    'freeze_generator',
    'freeze_discriminator',
]

NOISE_MODES = ('random', 'const', 'none')
#: Widest network (feature maps) that uses the channels_last memory format.
CHANNELS_LAST_MAX = 128


def _as_config(config, kwargs):
    if config is None:
        return NetworkConfig(**kwargs)
    if isinstance(config, dict):
        config = NetworkConfig.from_dict(config)
    if kwargs:
        config = NetworkConfig.from_dict({**config.to_dict(), **kwargs})
    return config


def _log2(res):
    return int(round(math.log2(res)))


def downsample_to(img, resolution):
    """
    Box-average (area) downsampling of images to a resolution.

    Parameters
    ----------
    img : `torch.Tensor`
        ``[N, C, H, H]`` with H a multiple of ``resolution``.
    resolution : int
        Target resolution.

    Returns
    -------
    img : `torch.Tensor`
        ``[N, C, resolution, resolution]``.

    Raises
    ------
    ValueError
        If the size is not a multiple of the resolution.
    """
    h, w = img.shape[-2:]
    if h != w or h % resolution:
        msg = f'cannot downsample images of {h}x{w} pixels to {resolution}x{resolution}'
        raise ValueError(msg)
    return downsample2d(img, h // resolution)


def default_memory_format(config):
    """
    Memory format of the feature maps (a run-time choice, not part of the architecture).

    Measured on CPU (oneDNN): ``channels_last`` is faster for narrow networks
    (up to 128 feature maps), the default (NCHW) for wide ones.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`

    Returns
    -------
    memory_format : `torch.memory_format`
    """
    widest = max(config.channels(r) for r in config.resolutions)
    return torch.channels_last if widest <= CHANNELS_LAST_MAX else torch.contiguous_format


def _normalize_2nd_moment(x, eps=1e-8):
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """
    Mapping network z -> w.

    Parameters
    ----------
    z_dim, w_dim : int
        Latent dimensions.
    num_ws : int
        Number of per-layer copies of w returned.
    num_layers : int
        Fully connected layers (leaky ReLU).
    lr_mult : float
        Learning-rate multiplier.
    w_avg_beta : float
        Decay of the moving average ``w_avg``.
    normalize_z : bool
        Normalize z to unit second moment first.
    """

    def __init__(self, z_dim, w_dim, num_ws, *, num_layers=8, lr_mult=0.01, w_avg_beta=0.995,
                 normalize_z=True):
        super().__init__()
        self.z_dim = z_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.w_avg_beta = w_avg_beta
        self.normalize_z = normalize_z
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[
            FullyConnected(dims[i], dims[i + 1], activation='lrelu', lr_mult=lr_mult)
            for i in range(num_layers)])
        self.register_buffer('w_avg', torch.zeros([w_dim]))

    def forward(self, z, *, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
        """
        Map latents.

        Parameters
        ----------
        z : `torch.Tensor`
            ``[N, z_dim]``.
        truncation_psi : float
            Truncation: ``w = w_avg + psi * (w - w_avg)``.
        truncation_cutoff : int or None
            Truncate only the first this many layers (None: all).
        update_w_avg : bool
            Update the moving average of w (during training).

        Returns
        -------
        ws : `torch.Tensor`
            ``[N, num_ws, w_dim]``.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            msg = f'z must have shape [N, {self.z_dim}], got {list(z.shape)}'
            raise ValueError(msg)
        x = _normalize_2nd_moment(z) if self.normalize_z else z
        x = self.layers(x)
        if update_w_avg:
            with torch.no_grad():
                batch_mean = x.detach().mean(dim=0).to(self.w_avg.dtype)
                self.w_avg.copy_(batch_mean.lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.to(ws.dtype).lerp(ws[:, :cutoff], truncation_psi)
        return ws


# --------------------------------------------------------------------------
# Synthesis layers


class StyleLayer(nn.Module):
    """
    StyleGAN (2019) layer: [upsample] conv 3x3 -> noise -> bias + lrelu -> AdaIN.

    The 4x4 input layer (``conv=False``) has no convolution: it applies noise,
    bias, activation and AdaIN to the learned constant.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature maps.
    w_dim : int
        Dimension of w.
    resolution : int
        Output resolution.
    ws_index : int
        Which of the per-layer w vectors the layer uses.
    conv : bool
        Whether the layer has a convolution.
    up : bool
        Upsample by 2 first.
    generator : `torch.Generator`
        Draws the constant noise.
    """

    def __init__(self, in_channels, out_channels, w_dim, resolution, ws_index, *, conv=True,
                 up=False, generator=None):
        super().__init__()
        self.ws_index = ws_index
        if conv:
            self.conv = Conv2dLayer(in_channels, out_channels, 3, bias=True, up=up,
                                    activation='lrelu')
            self.bias = None
        else:
            self.conv = None
            self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise = NoiseInjection(out_channels, resolution, per_channel=True,
                                    generator=generator)
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x, ws, *, noise_mode='random', generator=None):
        noise = self.noise.sample(x, noise_mode=noise_mode, generator=generator)
        if self.conv is not None:
            x = self.conv(x, add=noise)
        else:
            x = bias_act(x if noise is None else x + noise, self.bias, activation='lrelu')
        return self.adain(x, ws[:, self.ws_index])


class ModulatedLayer(nn.Module):
    """
    StyleGAN2 layer: modulated conv 3x3 [with upsampling] -> noise -> bias + lrelu.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature maps.
    w_dim : int
        Dimension of w.
    resolution : int
        Output resolution.
    ws_index : int
        Which w the layer uses.
    up : bool
        Upsample by 2.
    generator : `torch.Generator`
        Draws the constant noise.
    """

    def __init__(self, in_channels, out_channels, w_dim, resolution, ws_index, *, up=False,
                 generator=None):
        super().__init__()
        self.ws_index = ws_index
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.noise = NoiseInjection(out_channels, resolution, per_channel=False,
                                    generator=generator)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x, ws, *, noise_mode='random', generator=None):
        noise = self.noise.sample(x, noise_mode=noise_mode, generator=generator)
        return self.conv(x, ws[:, self.ws_index], bias=self.bias, add=noise,
                         activation='lrelu')


class ToRGB(nn.Module):
    """
    1x1 convolution to image channels (modulated in StyleGAN2, plain in StyleGAN).

    Parameters
    ----------
    in_channels, img_channels : int
        Feature maps in, image channels out.
    w_dim : int
        Dimension of w.
    ws_index : int or None
        Which w a modulated toRGB uses (None: plain convolution).
    """

    def __init__(self, in_channels, img_channels, w_dim, ws_index=None):
        super().__init__()
        self.ws_index = ws_index
        if ws_index is None:
            self.conv = Conv2dLayer(in_channels, img_channels, 1, bias=True)
        else:
            self.conv = ModulatedConv2d(in_channels, img_channels, 1, w_dim, demodulate=False,
                                        style_gain=1 / math.sqrt(in_channels))
            self.bias = nn.Parameter(torch.zeros(img_channels))

    def forward(self, x, ws):
        if self.ws_index is None:
            return self.conv(x)
        return self.conv(x, ws[:, self.ws_index], bias=self.bias)


class SynthesisBlock(nn.Module):
    """
    One resolution of the synthesis network: two layers and a toRGB.

    The 4x4 block holds the learned constant (``input``) and its layers are
    ``input`` (StyleGAN: noise + AdaIN on the constant) and ``conv1``; the
    other blocks have ``conv0`` (with upsampling) and ``conv1``.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`
        Network configuration.
    resolution : int
        Block resolution.
    generator : `torch.Generator`
        Draws the constant noise buffers.
    """

    def __init__(self, config, resolution, generator):
        super().__init__()
        self.resolution = resolution
        style2 = config.architecture == 'stylegan2'
        out_ch = config.channels(resolution)
        w_dim = config.w_dim
        k = _log2(resolution)
        first_ws = 2 * k - 4  # index of this block's first w
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4) if style2
                                      else torch.ones(out_ch, 4, 4))
            if style2:
                self.input = None
                self.conv1 = ModulatedLayer(out_ch, out_ch, w_dim, 4, 0, generator=generator)
            else:
                self.input = StyleLayer(out_ch, out_ch, w_dim, 4, 0, conv=False,
                                        generator=generator)
                self.conv1 = StyleLayer(out_ch, out_ch, w_dim, 4, 1, generator=generator)
            self.conv0 = None
        else:
            in_ch = config.channels(resolution // 2)
            self.const = None
            self.input = None
            if style2:
                self.conv0 = ModulatedLayer(in_ch, out_ch, w_dim, resolution, first_ws - 1,
                                            up=True, generator=generator)
                self.conv1 = ModulatedLayer(out_ch, out_ch, w_dim, resolution, first_ws,
                                            generator=generator)
            else:
                self.conv0 = StyleLayer(in_ch, out_ch, w_dim, resolution, first_ws, up=True,
                                        generator=generator)
                self.conv1 = StyleLayer(out_ch, out_ch, w_dim, resolution, first_ws + 1,
                                        generator=generator)
        torgb_ws = (first_ws + 1 if resolution > 4 else 1) if style2 else None
        self.torgb = ToRGB(out_ch, config.img_channels, w_dim, torgb_ws)

    def layer_names(self):
        """list of str: names of the layers of the block, in order."""
        names = []
        if self.const is not None:
            names.append('input')
        else:
            names.append('conv0')
        names += ['conv1', 'torgb']
        return names

    def forward(self, x, ws, *, noise_mode='random', generator=None,
                memory_format=torch.contiguous_format):
        """Feature maps of the block (without toRGB)."""
        if self.const is not None:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1).contiguous(
                memory_format=memory_format)
            if self.input is not None:
                x = self.input(x, ws, noise_mode=noise_mode, generator=generator)
        else:
            x = self.conv0(x, ws, noise_mode=noise_mode, generator=generator)
        return self.conv1(x, ws, noise_mode=noise_mode, generator=generator)


class SynthesisNetwork(nn.Module):
    """
    Synthesis network ws -> image.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`
        Network configuration.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.architecture = config.architecture
        self.img_resolution = config.resolution
        self.img_channels = config.img_channels
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        gen = torch.Generator().manual_seed(int(config.noise_seed))
        self.blocks = nn.ModuleDict({
            f'b{res}': SynthesisBlock(config, res, gen) for res in config.resolutions})
        self.current_resolution = config.resolution
        self.alpha = 1.0
        self.memory_format = default_memory_format(config)

    @property
    def progressive(self):
        """bool: whether the network grows progressively ('stylegan')."""
        return self.architecture == 'stylegan'

    def set_growth(self, resolution, alpha=1.0):
        """
        Set the current output resolution and fade-in factor (progressive growing).

        Parameters
        ----------
        resolution : int
            Current resolution (power of two, 4 ... ``img_resolution``).
        alpha : float
            Fade-in of the newest block, in [0, 1]: the output is
            ``(1 - alpha) * upsample2d(toRGB_{r/2}) + alpha * toRGB_r``.

        Raises
        ------
        ValueError
            For an invalid resolution or alpha, or a partial resolution on the
            non-progressive ``'stylegan2'`` architecture.
        """
        _check_growth(self.progressive, self.img_resolution, resolution, alpha)
        self.current_resolution = int(resolution)
        self.alpha = float(alpha)

    @property
    def num_active_ws(self):
        """int: number of ws used at the current resolution."""
        return 2 * _log2(self.current_resolution) - 2

    def layer_names(self):
        """
        Ordered names of the synthesis layers, for layer-level freezing.

        The 4x4 block's ``b4.input`` (the learned constant, with its noise
        and AdaIN in StyleGAN) comes first, then for each block from low to
        high resolution its convolution layers (``b4.conv1``; ``b8.conv0``,
        ``b8.conv1``; ...), each block's toRGB (``b{r}.torgb``) as a separate
        entry right after the block's convolutions.

        Returns
        -------
        names : list of str
            Prefixes of the parameter names within the synthesis network.
        """
        return [f'{key}.{name}' for key, block in self.blocks.items()
                for name in block.layer_names()]

    def block_names(self):
        """list of str: block names from low to high resolution (``b4``, ``b8``, ...)."""
        return list(self.blocks)

    def forward(self, ws, *, noise_mode='random', generator=None):
        """
        Synthesize images.

        Parameters
        ----------
        ws : `torch.Tensor`
            ``[N, num_ws, w_dim]``.
        noise_mode : {'random', 'const', 'none'}
            Noise inputs: fresh random noise, the fixed buffers, or none.
        generator : `torch.Generator` or None
            Generator of the random noise (reproducibility).

        Returns
        -------
        img : `torch.Tensor`
            ``[N, img_channels, R, R]`` at the current resolution R.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            msg = f'ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}'
            raise ValueError(msg)
        if noise_mode not in NOISE_MODES:
            msg = f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}'
            raise ValueError(msg)
        kw = dict(noise_mode=noise_mode, generator=generator, memory_format=self.memory_format)
        x = None
        img = None
        if not self.progressive:
            for block in self.blocks.values():
                x = block(x, ws, **kw)
                y = block.torgb(x, ws)
                img = y if img is None else upsample2d(img) + y
            return img
        x_prev = None
        for res, block in zip(self._resolutions(), self.blocks.values(), strict=False):
            if res > self.current_resolution:
                break
            x_prev = x
            x = block(x, ws, **kw)
        img = self.blocks[f'b{self.current_resolution}'].torgb(x, ws)
        if self.alpha < 1 and self.current_resolution > 4:
            prev = self.blocks[f'b{self.current_resolution // 2}'].torgb(x_prev, ws)
            img = torch.lerp(upsample2d(prev), img, self.alpha)
        return img

    def _resolutions(self):
        return [2 ** k for k in range(2, _log2(self.img_resolution) + 1)]


def _check_growth(progressive, img_resolution, resolution, alpha):
    if not 0 <= alpha <= 1:
        msg = f'alpha must be in [0, 1], got {alpha!r}'
        raise ValueError(msg)
    if not progressive:
        if resolution != img_resolution:
            msg = (f"the 'stylegan2' architecture does not grow progressively: resolution "
                   f'must be {img_resolution}, got {resolution!r}')
            raise ValueError(msg)
        return
    if (int(resolution) != resolution or resolution < 4 or resolution > img_resolution
            or 2 ** _log2(resolution) != resolution):
        msg = (f'resolution must be a power of two between 4 and {img_resolution}, '
               f'got {resolution!r}')
        raise ValueError(msg)


class Generator(nn.Module):
    """
    StyleGAN generator: `MappingNetwork` then `SynthesisNetwork`.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`, dict or None
        Network configuration (None: defaults).
    **kwargs
        Fields of `~galsynth.stylegan.configs.NetworkConfig` overriding ``config``.
    """

    def __init__(self, config=None, **kwargs):
        super().__init__()
        config = _as_config(config, kwargs)
        self.config = config
        self.z_dim = config.z_dim
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.img_resolution = config.resolution
        self.img_channels = config.img_channels
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.num_ws,
                                      num_layers=config.mapping_layers,
                                      lr_mult=config.mapping_lr_mult,
                                      w_avg_beta=config.w_avg_beta,
                                      normalize_z=config.normalize_z)
        self.synthesis = SynthesisNetwork(config)

    @property
    def current_resolution(self):
        """int: current output resolution."""
        return self.synthesis.current_resolution

    @property
    def alpha(self):
        """float: current fade-in factor."""
        return self.synthesis.alpha

    def set_growth(self, resolution, alpha=1.0):
        """
        Set the current resolution and fade-in (see `SynthesisNetwork.set_growth`).

        Parameters
        ----------
        resolution : int
            Current resolution.
        alpha : float
            Fade-in factor in [0, 1].
        """
        self.synthesis.set_growth(resolution, alpha)

    def mix_styles(self, ws, ws2, cutoff):
        """
        Style mixing: layers from ``cutoff`` on take their w from ``ws2``.

        Parameters
        ----------
        ws, ws2 : `torch.Tensor`
            ``[N, num_ws, w_dim]``.
        cutoff : int or `torch.Tensor`
            First layer taken from ``ws2``; an integer tensor ``[N]`` gives
            one cutoff per sample (``num_ws`` or more: no mixing).

        Returns
        -------
        ws : `torch.Tensor`
        """
        idx = torch.arange(ws.shape[1], device=ws.device)
        cutoff = torch.as_tensor(cutoff, device=ws.device).reshape(-1, 1)
        mask = (idx.unsqueeze(0) >= cutoff).unsqueeze(2)  # [N or 1, num_ws, 1]
        return torch.where(mask, ws2, ws)

    def forward(self, z, *, truncation_psi=1.0, truncation_cutoff=None, noise_mode='random',
                generator=None):
        """
        Generate images.

        Parameters
        ----------
        z : `torch.Tensor`
            ``[N, z_dim]``.
        truncation_psi : float
            Truncation factor.
        truncation_cutoff : int or None
            Truncate only the first layers.
        noise_mode : {'random', 'const', 'none'}
            Noise mode.
        generator : `torch.Generator` or None
            Generator of the random noise.

        Returns
        -------
        img : `torch.Tensor`
            ``[N, img_channels, R, R]``.
        """
        ws = self.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator)


def style_mix(G, z, *, prob=0.9, generator=None, update_w_avg=False):
    """
    Per-layer latents with style mixing (the training regularization).

    Each sample, with probability ``prob``, takes its w from a second latent
    from a layer drawn uniformly in ``[1, n)`` on, where ``n`` is the number of
    layers used at the current resolution.

    Parameters
    ----------
    G : `Generator`
        Generator.
    z : `torch.Tensor`
        ``[N, z_dim]``.
    prob : float
        Mixing probability.
    generator : `torch.Generator` or None
        Draws the second latents and the mixing decisions.
    update_w_avg : bool
        Update the moving average of w.

    Returns
    -------
    ws : `torch.Tensor`
        ``[N, num_ws, w_dim]``.
    """
    ws = G.mapping(z, update_w_avg=update_w_avg)
    n_active = G.synthesis.num_active_ws
    if prob <= 0 or n_active < 2:
        return ws
    dev = generator.device if generator is not None else z.device
    n = z.shape[0]
    z2 = torch.randn(z.shape, generator=generator, device=dev, dtype=z.dtype).to(z.device)
    cutoff = torch.randint(1, n_active, [n], generator=generator, device=dev)
    mix = torch.rand([n], generator=generator, device=dev) < prob
    cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, G.num_ws)).to(z.device)
    ws2 = G.mapping(z2, update_w_avg=False)
    return G.mix_styles(ws, ws2, cutoff)


# --------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """
    One resolution of the discriminator: conv 3x3, conv 3x3 + downsample.

    ``'stylegan2'``: residual (1x1 skip on the downsampled input, sum scaled
    by ``sqrt(1/2)``), with a fromRGB only in the highest-resolution block;
    ``'stylegan'``: a fromRGB in every block (progressive growing).

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`
        Network configuration.
    resolution : int
        Block resolution.
    """

    def __init__(self, config, resolution):
        super().__init__()
        self.resolution = resolution
        style2 = config.architecture == 'stylegan2'
        in_ch = config.channels(resolution)
        out_ch = config.channels(resolution // 2)
        self.residual = style2
        has_fromrgb = (not style2) or resolution == config.resolution
        self.fromrgb = (Conv2dLayer(config.img_channels, in_ch, 1, activation='lrelu')
                        if has_fromrgb else None)
        self.conv0 = Conv2dLayer(in_ch, in_ch, 3, activation='lrelu')
        self.conv1 = Conv2dLayer(in_ch, out_ch, 3, activation='lrelu', down=True)
        self.skip = (Conv2dLayer(in_ch, out_ch, 1, bias=False, down=True) if style2 else None)

    def forward(self, x):
        if self.residual:
            y = self.skip(x)
            x = self.conv1(self.conv0(x))
            return (x + y) * math.sqrt(0.5)
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """
    The 4x4 end of the discriminator: minibatch stddev, conv 3x3, two fully connected.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`
        Network configuration.
    """

    def __init__(self, config):
        super().__init__()
        ch = config.channels(4)
        progressive = config.architecture == 'stylegan'
        self.fromrgb = (Conv2dLayer(config.img_channels, ch, 1, activation='lrelu')
                        if progressive else None)
        self.mbstd = MinibatchStdDev(config.mbstd_group_size, config.mbstd_num_channels)
        self.conv = Conv2dLayer(ch + config.mbstd_num_channels, ch, 3, activation='lrelu')
        self.fc = FullyConnected(ch * 16, ch, activation='lrelu')
        self.out = FullyConnected(ch, 1)

    def forward(self, x):
        x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)


class Discriminator(nn.Module):
    """
    StyleGAN discriminator (critic): image -> logits ``[N, 1]``.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`, dict or None
        Network configuration (None: defaults).
    **kwargs
        Fields of `~galsynth.stylegan.configs.NetworkConfig` overriding ``config``.
    """

    def __init__(self, config=None, **kwargs):
        super().__init__()
        config = _as_config(config, kwargs)
        self.config = config
        self.architecture = config.architecture
        self.img_resolution = config.resolution
        self.img_channels = config.img_channels
        blocks = {f'b{res}': DiscriminatorBlock(config, res)
                  for res in reversed(config.resolutions) if res > 4}
        blocks['b4'] = DiscriminatorEpilogue(config)
        self.blocks = nn.ModuleDict(blocks)
        self.current_resolution = config.resolution
        self.alpha = 1.0
        self.memory_format = default_memory_format(config)

    @property
    def progressive(self):
        """bool: whether the network grows progressively ('stylegan')."""
        return self.architecture == 'stylegan'

    def set_growth(self, resolution, alpha=1.0):
        """
        Set the current input resolution and fade-in factor.

        Parameters
        ----------
        resolution : int
            Current resolution.
        alpha : float
            Fade-in of the newest block in [0, 1]: the features entering the
            block below are ``(1 - alpha) * fromRGB_{r/2}(downsample2d(img))
            + alpha * block_r(fromRGB_r(img))``.
        """
        _check_growth(self.progressive, self.img_resolution, resolution, alpha)
        self.current_resolution = int(resolution)
        self.alpha = float(alpha)

    def block_names(self):
        """
        Block names in forward order, from the image resolution down to ``b4``.

        Returns
        -------
        names : list of str
        """
        return list(self.blocks)

    def forward(self, img):
        """
        Score images.

        Parameters
        ----------
        img : `torch.Tensor`
            ``[N, img_channels, R, R]`` at the current resolution R.

        Returns
        -------
        logits : `torch.Tensor`
            ``[N, 1]``.
        """
        r = self.current_resolution
        if img.ndim != 4 or img.shape[1] != self.img_channels or img.shape[2:] != (r, r):
            msg = (f'images must have shape [N, {self.img_channels}, {r}, {r}], '
                   f'got {list(img.shape)}')
            raise ValueError(msg)
        img = img.contiguous(memory_format=self.memory_format)
        if not self.progressive:
            x = None
            for block in self.blocks.values():
                if x is None:
                    x = block.fromrgb(img)
                x = block(x)
            return x
        top = self.blocks[f'b{r}']
        x = top(top.fromrgb(img))
        if r > 4 and self.alpha < 1:
            low = self.blocks[f'b{r // 2}']
            x = torch.lerp(low.fromrgb(downsample2d(img)), x, self.alpha)
        for res in (2 ** k for k in range(_log2(r) - 1, 1, -1)):
            x = self.blocks[f'b{res}'](x)
        return x


def build_networks(config=None, **kwargs):
    """
    Generator and discriminator for a configuration.

    Parameters
    ----------
    config : `~galsynth.stylegan.configs.NetworkConfig`, dict or None
        Network configuration.
    **kwargs
        Overrides of its fields.

    Returns
    -------
    G : `Generator`
    D : `Discriminator`
    """
    config = _as_config(config, kwargs)
    return Generator(config), Discriminator(config)


# --------------------------------------------------------------------------
# Freezing


def _freeze_prefixes(module, prefixes):
    frozen = []
    for name, p in module.named_parameters():
        if any(name == pre or name.startswith(pre + '.') for pre in prefixes):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def freeze_generator(G, *, layers=0, blocks=0, mapping=False):
    """
    Freeze the first synthesis layers or blocks of a generator (fine-tuning).

    "First" means nearest to the learned constant, i.e. lowest resolution:
    ``layers=N`` freezes the first N entries of
    ``G.synthesis.layer_names()`` (``b4.input`` -- the constant with, in
    StyleGAN, its noise scale and AdaIN affine --, ``b4.conv1``,
    ``b4.torgb``, ``b8.conv0``, ...), each with all its parameters
    (convolution, bias, noise strength, style affine). ``blocks=N`` freezes
    the N lowest-resolution blocks entirely (``b4``, ``b8``, ...), toRGB
    included. The two are combined (union).

    Parameters
    ----------
    G : `Generator`
        Generator (changed in place).
    layers : int
        Number of synthesis layers to freeze.
    blocks : int
        Number of synthesis blocks to freeze.
    mapping : bool
        Also freeze the mapping network.

    Returns
    -------
    frozen : list of str
        Names (as in ``G.named_parameters()``) of the frozen parameters.

    Raises
    ------
    ValueError
        If more layers or blocks are asked than exist.
    """
    layer_names = G.synthesis.layer_names()
    block_names = G.synthesis.block_names()
    if not 0 <= layers <= len(layer_names):
        msg = f'layers must be in [0, {len(layer_names)}], got {layers!r}'
        raise ValueError(msg)
    if not 0 <= blocks <= len(block_names):
        msg = f'blocks must be in [0, {len(block_names)}], got {blocks!r}'
        raise ValueError(msg)
    prefixes = []
    for name in layer_names[:layers]:
        key, sub = name.split('.')
        prefixes.append(f'synthesis.blocks.{key}.{sub}')
        if sub == 'input':
            prefixes.append(f'synthesis.blocks.{key}.const')
    prefixes += [f'synthesis.blocks.{key}' for key in block_names[:blocks]]
    if mapping:
        prefixes.append('mapping')
    return _freeze_prefixes(G, prefixes)


def freeze_discriminator(D, *, blocks=0):
    """
    Freeze the first discriminator blocks (FreezeD).

    "First" means nearest to the image: blocks are counted in
    ``D.block_names()`` order from the full image resolution down
    (``b{R}``, ``b{R/2}``, ..., ``b4`` the final epilogue with the minibatch
    stddev and fully connected layers), each with its fromRGB.

    Parameters
    ----------
    D : `Discriminator`
        Discriminator (changed in place).
    blocks : int
        Number of blocks to freeze.

    Returns
    -------
    frozen : list of str
        Names of the frozen parameters.

    Raises
    ------
    ValueError
        If more blocks are asked than exist.
    """
    names = D.block_names()
    if not 0 <= blocks <= len(names):
        msg = f'blocks must be in [0, {len(names)}], got {blocks!r}'
        raise ValueError(msg)
    return _freeze_prefixes(D, [f'blocks.{key}' for key in names[:blocks]])
