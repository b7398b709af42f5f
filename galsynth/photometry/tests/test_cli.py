# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of ``galsynth measure``."""

import numpy as np
import pytest
from astropy.table import QTable

from galsynth.cli import main
from galsynth.exceptions import PhotometryWarning
from galsynth.products import write_galaxy

from .conftest import render


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp('products')
    for k in range(2):
        write_galaxy(render(seed=30 + k, size=40, hlr=1.0), path / f'galaxy_{k:06d}.fits')
    (path / 'notes.txt').write_text('not a product')
    return path


class TestMeasureCommand:
    def test_writes_table(self, folder, tmp_path, capsys):
        out = tmp_path / 'table.ecsv'
        status = main(['measure', str(folder), '-o', str(out), '--no-morphology',
                       '--no-progress'])
        assert status == 0
        table = QTable.read(out)
        assert len(table) == 2
        assert table['file'][0].endswith('galaxy_000000.fits')
        assert table['mag_r'].unit == 'mag'
        assert np.all(np.isfinite(table['mag_r']))
        assert 'measured 2 products' in capsys.readouterr().out

    def test_refuses_to_overwrite(self, folder, tmp_path, capsys):
        out = tmp_path / 'table.ecsv'
        out.write_text('keep')
        assert main(['measure', str(folder), '-o', str(out), '--no-morphology']) == 2
        assert 'exists' in capsys.readouterr().err
        assert out.read_text() == 'keep'
        assert main(['measure', str(folder), '-o', str(out), '--no-morphology',
                     '--no-progress', '--overwrite']) == 0
        assert len(QTable.read(out)) == 2

    def test_errors(self, tmp_path, capsys):
        assert main(['measure', str(tmp_path), '-o', str(tmp_path / 't.ecsv')]) == 2
        assert 'no FITS files' in capsys.readouterr().err
        assert main(['measure', str(tmp_path / 'missing'), '-o', str(tmp_path / 't.ecsv')]) == 2
        assert main(['measure', str(tmp_path), '-o', str(tmp_path / 't.xlsx')]) == 2
        assert 'unknown table format' in capsys.readouterr().err

    def test_bad_file_is_a_flagged_row(self, tmp_path):
        (tmp_path / 'broken.fits').write_bytes(b'junk')
        write_galaxy(render(seed=40, size=40, hlr=1.0), tmp_path / 'good.fits')
        out = tmp_path / 'out.fits'
        with pytest.warns(PhotometryWarning, match='broken.fits'):
            assert main(['measure', str(tmp_path), '-o', str(out), '--no-morphology',
                         '--no-progress', '--jobs', '1']) == 0
        table = QTable.read(out)
        assert len(table) == 2
        assert list(table['flags'] != 0) == [True, False]
