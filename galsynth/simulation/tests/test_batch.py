# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of batch simulation, simulation folders and the parametric backend."""

import json
import os

import numpy as np
import pytest
from astropy.table import QTable

from galsynth import GalaxyGenerator
from galsynth.products import galaxy_cube, galaxy_truth, read_galaxy
from galsynth.simulation import (
    CATALOG_NAME,
    SIMULATION_MODEL,
    draw_population,
    galaxy_filename,
    simulate,
    simulate_to_dir,
)


def _same(a, b):
    return all(np.array_equal(a[i].data, b[i].data) for i in range(1, 7))


class TestSimulate:
    def test_deterministic_and_independent_of_batching(self):
        full = simulate(3, seed=21, size=24)
        again = simulate(3, seed=21, size=24)
        tail = simulate(1, seed=21, start=2, size=24)
        other = simulate(1, seed=22, size=24)
        assert all(_same(a, b) for a, b in zip(full, again, strict=True))
        assert _same(full[2], tail[0])
        assert not np.array_equal(full[0]['R'].data, other[0]['R'].data)
        assert [h[0].header['LATENTIX'] for h in full] == [0, 1, 2]
        assert {h[0].header['BASESEED'] for h in full} == {21}

    def test_parallel_jobs_identical(self):
        serial = simulate(2, seed=4, size=16, bands='r')
        parallel = simulate(2, seed=4, size=16, bands='r', jobs=2)
        for a, b in zip(serial, parallel, strict=True):
            np.testing.assert_array_equal(a['R'].data, b['R'].data)

    def test_population_table_and_redshift(self):
        """Galaxy k of simulate(seed) is row k of draw_population(seed)."""
        table = draw_population(2, seed=8)
        given = simulate(2, seed=8, size=24, population=table)
        drawn = simulate(2, seed=8, size=24)
        assert all(_same(a, b) for a, b in zip(given, drawn, strict=True))
        at_z = simulate(2, seed=8, size=24, redshift=[0.05, 0.15])
        assert [h[0].header['REDSHIFT'] for h in at_z] == [0.05, 0.15]
        with pytest.raises(ValueError, match='population has 2 rows'):
            simulate(3, seed=8, population=table)
        with pytest.raises(ValueError, match='redshift has 1 values'):
            simulate(2, seed=8, redshift=[0.1])
        with pytest.raises(TypeError, match='unknown simulation option'):
            simulate(1, seed=8, colour='blue')

    def test_no_seed_is_recorded(self):
        a = simulate(1, size=16, bands='r')[0]
        b = simulate(1, seed=a[0].header['BASESEED'], size=16, bands='r')[0]
        np.testing.assert_array_equal(a['R'].data, b['R'].data)


class TestBackend:
    def test_generator(self):
        gen = GalaxyGenerator(backend='parametric', size=32, bands='gr')
        assert gen.bands == ('g', 'r') and gen.resolution == 32
        h1 = gen.generate(2, seed=3, ra=10.0, dec=-5.0, redshift=0.06)
        h2 = gen.generate(2, seed=3, ra=10.0, dec=-5.0, redshift=0.06)
        assert all(_same2(a, b) for a, b in zip(h1, h2, strict=True))
        hdr = h1[0][0].header
        assert hdr['GENERATR'] == 'parametric' and hdr['REDSHIFT'] == 0.06
        assert hdr['RA'] == 10.0 and hdr['DEC'] == -5.0
        big = gen.generate(1, seed=3, size=40, bands='gri')[0]
        assert galaxy_cube(big).shape == (3, 40, 40)
        assert 'GALSMVER' in big[0].header

    def test_bad_backend_options(self):
        with pytest.raises(TypeError, match='takes no option'):
            GalaxyGenerator('model.pt', backend='parametric')
        with pytest.raises(ValueError, match='size'):
            GalaxyGenerator(backend='parametric', size=0)

    def test_backend_options(self):
        gen = GalaxyGenerator(backend='parametric', size=24, noise=False, neighbours=False)
        hdul = gen.generate(1, seed=1, bands='r')[0]
        truth = galaxy_truth(hdul)
        assert truth['noise'] is False or truth['noise'] == 0
        assert hdul['R'].data.sum() > 0


def _same2(a, b):
    return all(np.array_equal(x.data, y.data) for x, y in zip(a[1:5], b[1:5], strict=True))


class TestSimulateToDir:
    def test_write_resume_and_refuse(self, tmp_path):
        out = tmp_path / 'sim'
        cat = simulate_to_dir(3, out, seed=5, size=20, bands='gr')
        files = sorted(p.name for p in out.glob('galaxy_*.fits'))
        assert files == [galaxy_filename(i) for i in range(3)]
        assert len(cat) == 3 and list(cat['path']) == files
        on_disk = QTable.read(out / CATALOG_NAME)
        assert len(on_disk) == 3 and 'mag_r' in on_disk.colnames and 'r50' in on_disk.colnames
        assert json.loads((out / 'simulation.json').read_text())['seed'] == 5

        # Interrupted run: one file missing, one stale temporary file.
        reference = read_galaxy(out / galaxy_filename(1))
        (out / galaxy_filename(1)).unlink()
        (out / '.galaxy_000001.fits.abc.tmp').write_bytes(b'partial')
        kept = (out / galaxy_filename(0)).stat().st_mtime_ns
        cat = simulate_to_dir(4, out, size=20, bands='gr')  # seed from simulation.json
        assert len(cat) == 4
        assert (out / galaxy_filename(0)).stat().st_mtime_ns == kept
        assert not list(out.glob('.*.tmp'))
        redone = read_galaxy(out / galaxy_filename(1))
        np.testing.assert_array_equal(galaxy_cube(redone), galaxy_cube(reference))
        assert cat['mag_r'][1].value == pytest.approx(galaxy_truth(reference)['mag_r'])

        # Corrupt and truncated files are simulated again.
        (out / galaxy_filename(2)).write_bytes(b'not fits')
        before = read_galaxy(out / galaxy_filename(3))
        whole = (out / galaxy_filename(3)).read_bytes()
        (out / galaxy_filename(3)).write_bytes(whole[:len(whole) // 2])
        again = simulate_to_dir(4, out, size=20, bands='gr')
        assert read_galaxy(out / galaxy_filename(2))
        np.testing.assert_array_equal(galaxy_cube(read_galaxy(out / galaxy_filename(3))),
                                      galaxy_cube(before))
        for name in cat.colnames:  # truth read back from the files = truth when made
            assert np.all(again[name] == cat[name]), name

        # Other settings: refused without overwrite, accepted with it.
        with pytest.raises(FileExistsError, match='other settings'):
            simulate_to_dir(2, out, size=24, bands='gr')
        with pytest.raises(FileExistsError, match='other settings'):
            simulate_to_dir(2, out, seed=6, size=20, bands='gr')
        cat = simulate_to_dir(2, out, seed=6, size=24, bands='gr', overwrite=True)
        assert read_galaxy(out / galaxy_filename(0))['R'].data.shape == (24, 24)
        assert len(cat) == 2

    def test_other_model_version_refused(self, tmp_path):
        simulate_to_dir(1, tmp_path, seed=1, size=16, bands='r')
        config = json.loads((tmp_path / 'simulation.json').read_text())
        assert config['model'] == SIMULATION_MODEL
        config['model'] = SIMULATION_MODEL - 1
        (tmp_path / 'simulation.json').write_text(json.dumps(config))
        with pytest.raises(FileExistsError, match='model'):
            simulate_to_dir(1, tmp_path, size=16, bands='r')
        assert read_galaxy(tmp_path / galaxy_filename(0))[0].header['SIMMODEL'] == \
            SIMULATION_MODEL

    def test_foreign_file_refused(self, tmp_path):
        simulate_to_dir(1, tmp_path / 'a', seed=1, size=16, bands='r')
        os.replace(tmp_path / 'a' / galaxy_filename(0), tmp_path / 'x.fits')
        simulate_to_dir(1, tmp_path / 'b', seed=2, size=16, bands='r')
        os.replace(tmp_path / 'x.fits', tmp_path / 'b' / galaxy_filename(0))
        with pytest.raises(FileExistsError, match='different simulation'):
            simulate_to_dir(1, tmp_path / 'b', size=16, bands='r')
