# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Building blocks of the StyleGAN networks.

Small composable `torch.nn.Module` classes: equalized-learning-rate fully
connected and convolution layers (`FullyConnected`, `Conv2dLayer`), the
modulated/demodulated convolution of StyleGAN2 (`ModulatedConv2d`), adaptive
instance normalization of StyleGAN (`AdaIN`, `adain`), per-pixel noise
(`NoiseInjection`), the minibatch standard deviation (`MinibatchStdDev`), and
the resampling and bias+activation functions they use.

Equalized learning rate: every weight is stored as ``N(0, 1) / lr_mult`` and
multiplied at run time by ``lr_mult * gain / sqrt(fan_in)``; biases are stored
divided by ``lr_mult`` and multiplied by it at run time. The gain of the
leaky ReLU (``sqrt(2)``) is folded into the weight and bias scales, which is
exact because the leaky ReLU is positively homogeneous.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    'ACTIVATIONS',
    'bias_act',
    'upsample2d',
    'downsample2d',
    'blur2d',
    'upsample_conv2d',
    'FullyConnected',
    'Conv2dLayer',
    'ModulatedConv2d',
    'NoiseInjection',
    'AdaIN',
    'adain',
    'MinibatchStdDev',
]

#: Supported activations: name -> (negative slope or None, gain).
ACTIVATIONS = {
    'linear': (None, 1.0),
    'lrelu': (0.2, math.sqrt(2.0)),
}


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        msg = f'activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}'
        raise ValueError(msg)
    return ACTIVATIONS[activation]


def bias_act(x, b=None, *, activation='linear', gain=None, dim=1):
    """
    Add a bias, apply an activation and multiply by its gain (reference form).

    Parameters
    ----------
    x : `torch.Tensor`
        Input.
    b : `torch.Tensor` or None
        Bias, of length ``x.shape[dim]``.
    activation : {'linear', 'lrelu'}
        Activation.
    gain : float or None
        Output gain; default: the activation's (``sqrt(2)`` for ``'lrelu'``).
    dim : int
        Dimension of ``x`` that the bias runs along.

    Returns
    -------
    y : `torch.Tensor`
    """
    slope, default_gain = _check_activation(activation)
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    if slope is not None:
        x = F.leaky_relu(x, slope)
    gain = default_gain if gain is None else gain
    if gain != 1:
        x = x * gain
    return x


def upsample2d(x):
    """
    Upsample by 2 with a separable ``[1, 3, 3, 1] / 4`` filter (bilinear).

    Used for images (skip generator, fade-in); feature maps are upsampled
    inside `upsample_conv2d`.

    Parameters
    ----------
    x : `torch.Tensor`
        Images or feature maps ``[N, C, H, W]``.

    Returns
    -------
    y : `torch.Tensor`
        ``[N, C, 2H, 2W]``.
    """
    return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)


def downsample2d(x, factor=2):
    """
    Downsample by an integer factor with a box (area-average) filter.

    Parameters
    ----------
    x : `torch.Tensor`
        ``[N, C, H, W]`` with H and W divisible by ``factor``.
    factor : int
        Downsampling factor.

    Returns
    -------
    y : `torch.Tensor`
        ``[N, C, H // factor, W // factor]``.
    """
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


_FIR = (1.0, 3.0, 3.0, 1.0)


def _blur_kernel(channels, dtype, device):
    f = torch.tensor(_FIR, dtype=dtype, device=device)
    f2 = torch.outer(f, f) / (f.sum() ** 2)
    return f2.reshape(1, 1, 4, 4).expand(channels, 1, 4, 4).contiguous(
        memory_format=torch.channels_last)


def blur2d(x, *, padding=1):
    """
    Depthwise ``[1, 3, 3, 1] x [1, 3, 3, 1] / 64`` low-pass filter (unit gain).

    Parameters
    ----------
    x : `torch.Tensor`
        ``[N, C, H, W]``.
    padding : int
        Zero padding on each side (the output is ``H + 2 * padding - 3``).

    Returns
    -------
    y : `torch.Tensor`
    """
    c = x.shape[1]
    return F.conv2d(x, _blur_kernel(c, x.dtype, x.device), padding=padding, groups=c)


def upsample_conv2d(x, weight):
    """
    Convolution with upsampling by 2: transposed convolution then ``[1, 3, 3, 1]`` blur.

    Equals (away from the borders) ``conv2d(upsample2d(x), weight)`` up to a
    flip of the kernel, with a quarter of the multiply-adds. The result has
    the gain of the zero-insertion upsampling (1/4 on average); callers
    multiply by 4.

    Parameters
    ----------
    x : `torch.Tensor`
        ``[N, C_in, H, W]``.
    weight : `torch.Tensor`
        ``[C_out, C_in, 3, 3]``.

    Returns
    -------
    y : `torch.Tensor`
        ``[N, C_out, 2H, 2W]``.
    """
    y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # 2H + 1
    return blur2d(y, padding=1)


class FullyConnected(nn.Module):
    """
    Fully connected layer with equalized learning rate.

    Parameters
    ----------
    in_features, out_features : int
        Input and output sizes.
    bias : bool
        Whether to have a bias.
    bias_init : float
        Initial value of the bias.
    lr_mult : float
        Learning-rate multiplier.
    activation : {'linear', 'lrelu'}
        Activation.
    """

    def __init__(self, in_features, out_features, *, bias=True, bias_init=0.0, lr_mult=1.0,
                 activation='linear'):
        super().__init__()
        self.slope, self.act_gain = _check_activation(activation)
        self.activation = activation
        self.in_features = in_features
        self.out_features = out_features
        self.lr_mult = lr_mult
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = (nn.Parameter(torch.full([out_features], float(bias_init)) / lr_mult)
                     if bias else None)
        self.weight_gain = lr_mult / math.sqrt(in_features)

    def forward(self, x):
        """
        Apply the layer.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, in_features]``.

        Returns
        -------
        y : `torch.Tensor`
            ``[N, out_features]``.
        """
        g = self.act_gain
        w = self.weight * (self.weight_gain * g)
        b = self.bias * (self.lr_mult * g) if self.bias is not None else None
        x = F.linear(x, w, b)
        if self.slope is not None:
            x = F.leaky_relu(x, self.slope)
        return x

    def extra_repr(self):
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'activation={self.activation}, lr_mult={self.lr_mult}')


class Conv2dLayer(nn.Module):
    """
    Convolution with equalized learning rate, optional resampling and activation.

    Parameters
    ----------
    in_channels, out_channels : int
        Input and output feature maps.
    kernel_size : int
        Odd kernel size (padding keeps the size).
    bias : bool
        Whether to have a bias.
    activation : {'linear', 'lrelu'}
        Activation.
    up : bool
        Upsample by 2 (`upsample_conv2d`: transposed convolution and
        ``[1, 3, 3, 1]`` blur; ``kernel_size`` 3 only).
    down : bool
        Downsample the input by 2 (`downsample2d`) before the convolution.
    lr_mult : float
        Learning-rate multiplier.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, bias=True, activation='linear',
                 up=False, down=False, lr_mult=1.0):
        super().__init__()
        if up and down:
            msg = 'Conv2dLayer cannot both upsample and downsample'
            raise ValueError(msg)
        if up and kernel_size != 3:
            msg = f'upsampling convolutions need kernel_size 3, got {kernel_size}'
            raise ValueError(msg)
        self.slope, self.act_gain = _check_activation(activation)
        self.activation = activation
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.up = up
        self.down = down
        self.lr_mult = lr_mult
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mult)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x, *, add=None):
        """
        Apply the layer.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, in_channels, H, W]``.
        add : `torch.Tensor` or None
            Added (broadcast) after the convolution and bias, before the
            activation (e.g. scaled noise).

        Returns
        -------
        y : `torch.Tensor`
            ``[N, out_channels, H', W']`` with H' = 2H, H/2 or H.
        """
        g = self.act_gain
        if self.down:
            x = downsample2d(x)
        if self.up:
            w = self.weight * (self.weight_gain * g * 4)
            x = upsample_conv2d(x, w)
            if self.bias is not None:
                x = x + (self.bias * (self.lr_mult * g)).reshape(1, -1, 1, 1)
        else:
            w = self.weight * (self.weight_gain * g)
            b = self.bias * (self.lr_mult * g) if self.bias is not None else None
            x = F.conv2d(x, w, b, padding=self.padding)
        if add is not None:
            x = x + add * g if g != 1 else x + add
        if self.slope is not None:
            x = F.leaky_relu(x, self.slope, inplace=True)
        return x

    def extra_repr(self):
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'activation={self.activation}, up={self.up}, down={self.down}')


class ModulatedConv2d(nn.Module):
    """
    StyleGAN2 modulated (and optionally demodulated) convolution.

    The style ``s = A(w)`` scales the input feature maps, and with
    demodulation each output map is divided by
    ``sqrt(sum_{i,k} (w_{o,i,k} s_i)^2 + eps)``. It is computed as
    ``conv(x * s, W) * d``, which equals the grouped convolution with
    per-sample weights ``W * s * d`` but uses one ordinary convolution for
    the whole batch. The bias, an added term (noise) and the activation are
    applied in the same pass (`forward`).

    Parameters
    ----------
    in_channels, out_channels : int
        Input and output feature maps.
    kernel_size : int
        Odd kernel size.
    w_dim : int
        Dimension of w.
    demodulate : bool
        Whether to demodulate.
    up : bool
        Upsample by 2 (`upsample_conv2d`; ``kernel_size`` 3 only).
    style_gain : float
        Extra factor on the style (toRGB layers use ``1/sqrt(fan_in)``).
    eps : float
        Demodulation epsilon.
    """

    def __init__(self, in_channels, out_channels, kernel_size, w_dim, *, demodulate=True,
                 up=False, style_gain=1.0, eps=1e-8):
        super().__init__()
        if up and kernel_size != 3:
            msg = f'upsampling convolutions need kernel_size 3, got {kernel_size}'
            raise ValueError(msg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.up = up
        self.eps = eps
        self.padding = kernel_size // 2
        self.style_gain = style_gain
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x, w, *, bias=None, add=None, activation='linear'):
        """
        Apply the layer: ``act(conv(x * s, W) * d + bias + add) * gain``.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, in_channels, H, W]``.
        w : `torch.Tensor`
            ``[N, w_dim]``.
        bias : `torch.Tensor` or None
            ``[out_channels]``.
        add : `torch.Tensor` or None
            Added (broadcast) before the activation, e.g. scaled noise ``[N, 1, H, W]``.
        activation : {'linear', 'lrelu'}
            Activation (its gain is applied).

        Returns
        -------
        y : `torch.Tensor`
            ``[N, out_channels, H', W']`` (H' = 2H with ``up``).
        """
        slope, g = _check_activation(activation)
        styles = self.affine(w)
        if self.style_gain != 1:
            styles = styles * self.style_gain
        weight = self.weight * self.weight_gain
        x = x * styles.reshape(styles.shape[0], -1, 1, 1)
        if self.up:
            x = upsample_conv2d(x, weight)
            g = g * 4  # gain of the zero-insertion upsampling
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            dcoefs = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + self.eps)
            scale = (dcoefs * g).reshape(x.shape[0], -1, 1, 1)
        else:
            scale = None
        g_add = _check_activation(activation)[1]
        if bias is not None:
            b = (bias * g_add).reshape(1, -1, 1, 1)
            x = torch.addcmul(b, x, scale) if scale is not None else torch.add(b, x, alpha=g)
        elif scale is not None:
            x = x * scale
        elif g != 1:
            x = x * g
        if add is not None:
            x = torch.add(x, add, alpha=g_add) if g_add != 1 else x + add
        if slope is not None:
            x = F.leaky_relu(x, slope, inplace=True)
        return x

    def extra_repr(self):
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'demodulate={self.demodulate}, up={self.up}')


class NoiseInjection(nn.Module):
    """
    Per-pixel Gaussian noise with a learned scale.

    Parameters
    ----------
    channels : int
        Feature maps of the input.
    resolution : int
        Spatial size (for the constant noise buffer).
    per_channel : bool
        A learned scale per channel (StyleGAN) or a single one (StyleGAN2).
    generator : `torch.Generator` or None
        Draws the constant noise buffer used with ``noise_mode='const'``.
    """

    def __init__(self, channels, resolution, *, per_channel=True, generator=None):
        super().__init__()
        self.per_channel = per_channel
        self.resolution = resolution
        self.strength = nn.Parameter(torch.zeros([channels] if per_channel else []))
        self.register_buffer('noise_const',
                             torch.randn([1, 1, resolution, resolution], generator=generator))

    def sample(self, x, *, noise_mode='random', generator=None):
        """
        The scaled noise to add to ``x``.

        Parameters
        ----------
        x : `torch.Tensor`
            A tensor with the batch size, dtype and device of the output
            (the noise has ``resolution x resolution`` pixels).
        noise_mode : {'random', 'const', 'none'}
            Fresh noise, the fixed buffer, or no noise.
        generator : `torch.Generator` or None
            Generator of the fresh noise.

        Returns
        -------
        noise : `torch.Tensor` or None
            ``noise * strength``, broadcastable to ``x``; None for ``'none'``.
        """
        if noise_mode == 'none':
            return None
        if noise_mode == 'const':
            noise = self.noise_const.to(x.dtype)
        elif noise_mode == 'random':
            n, h, wd = x.shape[0], self.resolution, self.resolution
            if generator is None:
                noise = torch.randn([n, 1, h, wd], device=x.device, dtype=x.dtype)
            else:
                noise = torch.randn([n, 1, h, wd], generator=generator,
                                    device=generator.device, dtype=x.dtype).to(x.device)
        else:
            msg = f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}"
            raise ValueError(msg)
        strength = self.strength.reshape(1, -1, 1, 1) if self.per_channel else self.strength
        return noise * strength

    def forward(self, x, *, noise_mode='random', generator=None):
        """
        Add noise.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, C, H, W]``.
        noise_mode : {'random', 'const', 'none'}
            Fresh noise, the fixed buffer, or no noise.
        generator : `torch.Generator` or None
            Generator of the fresh noise.

        Returns
        -------
        y : `torch.Tensor`
        """
        noise = self.sample(x, noise_mode=noise_mode, generator=generator)
        return x if noise is None else x + noise


def adain(x, y_s, y_b, *, eps=1e-8):
    """
    Adaptive instance normalization ``y_s,i * (x_i - mu(x_i)) / sigma(x_i) + y_b,i``.

    ``mu`` and ``sigma`` are the mean and standard deviation
    (``sqrt(variance + eps)``, biased variance) of each feature map of each
    sample over its pixels.

    Parameters
    ----------
    x : `torch.Tensor`
        ``[N, C, H, W]``.
    y_s, y_b : `torch.Tensor`
        Style scale and bias, ``[N, C]``.
    eps : float
        Added to the variance.

    Returns
    -------
    y : `torch.Tensor`
    """
    x = F.instance_norm(x, eps=eps)
    return torch.addcmul(y_b[:, :, None, None], y_s[:, :, None, None], x)


class AdaIN(nn.Module):
    """
    Adaptive instance normalization from a learned affine map of w.

    ``(y_s, y_b) = A(w)`` with the scale's bias initialized to 1, then
    `adain`.

    Parameters
    ----------
    channels : int
        Feature maps.
    w_dim : int
        Dimension of w.
    eps : float
        Added to the variance.
    """

    def __init__(self, channels, w_dim, *, eps=1e-8):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.affine_scale = FullyConnected(w_dim, channels, bias_init=1.0)
        self.affine_bias = FullyConnected(w_dim, channels, bias_init=0.0)

    def styles(self, w):
        """
        The style ``(y_s, y_b)`` of a w.

        Parameters
        ----------
        w : `torch.Tensor`
            ``[N, w_dim]``.

        Returns
        -------
        y_s, y_b : `torch.Tensor`
            ``[N, channels]`` each.
        """
        return self.affine_scale(w), self.affine_bias(w)

    def forward(self, x, w):
        """
        Apply AdaIN.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, C, H, W]``.
        w : `torch.Tensor`
            ``[N, w_dim]``.

        Returns
        -------
        y : `torch.Tensor`
        """
        y_s, y_b = self.styles(w)
        return adain(x, y_s, y_b, eps=self.eps)


class MinibatchStdDev(nn.Module):
    """
    Minibatch standard deviation layer.

    The batch is split into groups of ``group_size`` samples (sample k goes
    into group ``k % (N // group_size)``); for each group the standard
    deviation of every feature over its samples is averaged over features
    and pixels (per slice of ``C / num_channels`` feature maps) and appended
    as ``num_channels`` constant feature maps. When N is not divisible by
    ``group_size`` the largest divisor of N not above it is used.

    Parameters
    ----------
    group_size : int
        Samples per group.
    num_channels : int
        Number of appended feature maps.
    eps : float
        Added to the variance.
    """

    def __init__(self, group_size=4, num_channels=1, *, eps=1e-8):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels
        self.eps = eps

    def forward(self, x):
        """
        Append the statistics.

        Parameters
        ----------
        x : `torch.Tensor`
            ``[N, C, H, W]``.

        Returns
        -------
        y : `torch.Tensor`
            ``[N, C + num_channels, H, W]``.
        """
        n, c, h, w = x.shape
        if self.num_channels == 0:
            return x
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)      # [GnFcHW]
        y = y - y.mean(dim=0)                          # center over the group
        y = (y.square().mean(dim=0) + self.eps).sqrt()  # [nFcHW] std over the group
        y = y.mean(dim=(2, 3, 4))                      # [nF]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # [NFHW]
        return torch.cat([x, y], dim=1)

    def extra_repr(self):
        return f'group_size={self.group_size}, num_channels={self.num_channels}'
