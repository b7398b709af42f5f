# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Pretrained models bundled with galsynth.

Each model is a pair of files in this folder: ``<name>.pt``, the exported
StyleGAN generator (G_ema weights, network configuration and the
normalization that maps its outputs back to nanomaggies; see
`galsynth.stylegan.checkpoint.export_generator`), and ``<name>.json``, its
model card (training data, kimg per stage, freezing, metrics, known failure
modes and the SHA-256 of the ``.pt`` file). The documentation page
"Bundled models" renders the cards.
"""

import functools
import hashlib
import json
from pathlib import Path

__all__ = ['DEFAULT_MODEL', 'MODEL_DIR', 'available_models', 'model_card', 'model_path',
           'sha256_of']

#: Folder of the bundled model files.
MODEL_DIR = Path(__file__).parent

#: Name of the model that ``GalaxyGenerator()`` loads.
DEFAULT_MODEL = 'sdss-gri-64'


def available_models():
    """
    Names of the bundled models.

    Returns
    -------
    list of str
    """
    return sorted(p.stem for p in MODEL_DIR.glob('*.json') if (MODEL_DIR / f'{p.stem}.pt').exists())


def model_path(name):
    """
    Path of a bundled model's weights.

    Parameters
    ----------
    name : str

    Returns
    -------
    `~pathlib.Path`

    Raises
    ------
    ValueError
        For an unknown name, listing the bundled ones.
    """
    path = MODEL_DIR / f'{name}.pt'
    if name not in available_models():
        msg = f'unknown model {name!r}; bundled models: {available_models()}'
        raise ValueError(msg)
    return path


def model_card(name):
    """
    The model card of a bundled model.

    Parameters
    ----------
    name : str

    Returns
    -------
    dict
    """
    model_path(name)
    return json.loads((MODEL_DIR / f'{name}.json').read_text())


@functools.lru_cache(maxsize=16)
def _sha256_cached(path, mtime_ns, size):
    h = hashlib.sha256()
    with open(path, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path):
    """
    SHA-256 hex digest of a file (cached on path, size and modification time).

    Parameters
    ----------
    path : str or path

    Returns
    -------
    str
    """
    st = Path(path).stat()
    return _sha256_cached(str(path), st.st_mtime_ns, st.st_size)
