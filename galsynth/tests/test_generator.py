# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of GalaxyGenerator and the backend registry (plugins)."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import galsynth
from galsynth import GalaxyGenerator
from galsynth.generator import GeneratorBackend, available_backends, get_backend, register_backend
from galsynth.products import galaxy_cube, galaxy_truth

EXAMPLE = Path(galsynth.__file__).parents[1] / 'examples' / 'plugin_backend'


@pytest.fixture
def blobs_installed(tmp_path, monkeypatch):
    """Install the documented example plugin the way pip would: module + dist-info."""
    if not EXAMPLE.exists():
        pytest.skip(f'example plugin not found at {EXAMPLE} (not a source checkout)')
    site = tmp_path / 'site'
    site.mkdir()
    shutil.copy(EXAMPLE / 'galsynth_blobs.py', site)
    dist = site / 'galsynth_blobs-0.1.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: galsynth-blobs\nVersion: 0.1\n')
    (dist / 'entry_points.txt').write_text(
        '[galsynth.generators]\nblobs = galsynth_blobs:BlobBackend\n')
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop('galsynth_blobs', None)


class TestRegistry:
    def test_builtin_backends_are_entry_points(self):
        names = available_backends()
        assert 'parametric' in names and 'stylegan' in names

    def test_unknown_backend(self):
        with pytest.raises(ValueError, match=r"unknown generator backend 'nope'; available"):
            GalaxyGenerator(backend='nope')

    def test_third_party_plugin_discovered(self, blobs_installed):
        assert 'blobs' in available_backends()
        gen = GalaxyGenerator(backend='blobs', size=24)
        assert gen.bands == ('g', 'r', 'i') and gen.resolution == 24
        hduls = gen.generate(3, seed=5)
        assert len(hduls) == 3
        assert hduls[0][0].header['GENERATR'] == 'blobs'
        # flux calibration of the example: image sum = true flux
        truth = galaxy_truth(hduls[1])
        assert galaxy_cube(hduls[1], 'r').sum() == pytest.approx(
            10 ** (-0.4 * (truth['mag_r'] - 22.5)), rel=1e-5)
        # determinism
        again = gen.generate(3, seed=5)
        np.testing.assert_array_equal(galaxy_cube(again[2]), galaxy_cube(hduls[2]))

    def test_plugin_in_cli(self, blobs_installed, tmp_path):
        from galsynth.cli import main

        assert main(['generate', '--backend', 'blobs', '-n', '2', '-o', str(tmp_path / 'o'),
                     '--no-progress']) == 0
        assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == [
            'catalog.ecsv', 'galaxy_000000.fits', 'galaxy_000001.fits']

    def test_runtime_registration_and_type_check(self):
        class Constant(GeneratorBackend):
            name = 'constant'
            bands = ('r',)
            resolution = 4

            def iter_generate(self, n, *, seed=None, **kwargs):
                from galsynth.products import make_galaxy
                for _ in range(n):
                    yield make_galaxy(np.ones((1, 4, 4)), bands='r', generator=self.name)

        register_backend('constant-test', Constant)
        assert get_backend('constant-test') is Constant
        gen = GalaxyGenerator(backend='constant-test')
        assert len(gen.generate(2)) == 2
        with pytest.raises(TypeError, match='not a GeneratorBackend'):
            register_backend('bad', dict)

    @pytest.mark.parametrize('n', [0, -1, 1.5, True, '3'])
    def test_bad_n(self, n):
        gen = GalaxyGenerator(backend='parametric')
        with pytest.raises(ValueError, match='n must be a positive integer'):
            gen.generate(n)

    def test_missing_style_method_message(self):
        gen = GalaxyGenerator(backend='parametric')
        with pytest.raises(AttributeError, match="backend 'parametric' has no 'style_mix'"):
            gen.style_mix(1, 2)
