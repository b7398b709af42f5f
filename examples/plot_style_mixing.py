# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Style-mixing grid of the bundled StyleGAN model (docs/_static/style_mixing.png).

Like Figure 3 of Karras et al. (2019): the top row holds the source galaxies
(B), the left column the destination galaxies (A); each cell is A with the
coarse, middle or fine styles of B. Run: ``python examples/plot_style_mixing.py``.
"""

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from galsynth import GalaxyGenerator  # noqa: E402
from galsynth.visualization import to_rgb  # noqa: E402

OUT = Path(__file__).parents[1] / 'docs' / '_static' / 'style_mixing.png'
SOURCES = [101, 102, 103, 104, 105]
DESTINATIONS = [201, 202]


def main(psi=0.8):
    gen = GalaxyGenerator()
    groups = [g for g in ('coarse', 'middle', 'fine') if _nonempty(gen, g)]
    rows = len(DESTINATIONS) * len(groups) + 1
    cols = len(SOURCES) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows))
    for ax in axes.ravel():
        ax.set_axis_off()
    srcs = gen.backend.latents(SOURCES, truncation_psi=psi)
    src_imgs = gen.backend.synthesize(srcs)
    for j, img in enumerate(src_imgs):
        axes[0, j + 1].imshow(to_rgb(img[::-1]))
        axes[0, j + 1].set_title(f'B: {SOURCES[j]}', fontsize=7)
    r = 1
    for group in groups:
        for dest in DESTINATIONS:
            dest_img = gen.backend.synthesize(gen.backend.latents([dest], truncation_psi=psi))
            axes[r, 0].imshow(to_rgb(dest_img[0][::-1]))
            axes[r, 0].set_title(f'A: {dest} ({group} of B)', fontsize=6)
            for j, src in enumerate(SOURCES):
                mixed = gen.style_mix(dest, src, layers=group, truncation_psi=psi)
                axes[r, j + 1].imshow(to_rgb(mixed))
            r += 1
    fig.tight_layout(pad=0.2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f'wrote {OUT}')


def _nonempty(gen, group):
    try:
        gen.style_layers(group)
    except ValueError:
        return False
    return True


if __name__ == '__main__':
    main()
