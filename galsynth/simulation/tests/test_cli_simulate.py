# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the ``galsynth simulate`` command."""

import subprocess
import sys

import pytest
from astropy.table import QTable

from galsynth.cli import main


def _run(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


class TestSimulateCommand:
    def test_writes_and_resumes(self, tmp_path, capsys):
        out = tmp_path / 'sim'
        argv = ['simulate', '-n', '2', '-o', str(out), '--size', '20', '--bands', 'gr',
                '--seed', '3', '--quiet']
        status, stdout, _ = _run(argv, capsys)
        assert status == 0 and '2 galaxies' in stdout
        assert len(QTable.read(out / 'catalog.ecsv')) == 2
        first = (out / 'galaxy_000000.fits').read_bytes()
        status, _, _ = _run(['simulate', '-n', '3', '-o', str(out), '--size', '20', '--bands',
                             'gr', '--quiet'], capsys)
        assert status == 0
        assert (out / 'galaxy_000000.fits').read_bytes() == first  # kept, not rewritten
        assert len(QTable.read(out / 'catalog.ecsv')) == 3

    def test_refuses_overwrite(self, tmp_path, capsys):
        out = tmp_path / 'sim'
        _run(['simulate', '-n', '1', '-o', str(out), '--size', '16', '--seed', '1',
              '--quiet', '--no-neighbours'], capsys)
        status, _, err = _run(['simulate', '-n', '1', '-o', str(out), '--size', '16',
                               '--seed', '2', '--quiet'], capsys)
        assert status == 2 and '--overwrite' in err and len(err.strip().splitlines()) == 1
        status, _, _ = _run(['simulate', '-n', '1', '-o', str(out), '--size', '16', '--seed',
                             '2', '--quiet', '--overwrite', '--preset', 'training',
                             '--no-noise'], capsys)
        assert status == 0

    @pytest.mark.parametrize('args', [
        ['-n', '0'], ['-n', 'many'], ['--size', '0'], ['--size', '2.5'], ['--size', 'abc'],
        ['--bands', 'gqx'], ['--bands', 'gg'], ['--jobs', '0'], ['--preset', 'huge'],
        ['--z-range', '0.5', '0.1'], ['--min-r50', '9', '--max-r50', '2'], ['--seed', '-3'],
    ])
    def test_bad_input(self, tmp_path, capsys, args):
        argv = ['simulate', '-n', '1', '-o', str(tmp_path / 'out'), '--quiet'] + args
        status, _, err = _run(argv, capsys)
        assert status == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and 'error' in lines[0] and 'Traceback' not in err

    def test_unwritable_output(self, tmp_path, capsys):
        blocker = tmp_path / 'file'
        blocker.write_text('x')
        status, _, err = _run(['simulate', '-n', '1', '-o', str(blocker / 'sub'), '--quiet'],
                              capsys)
        assert status == 2 and len(err.strip().splitlines()) == 1
        status, _, err = _run(['simulate', '-n', '1', '-o', str(blocker), '--quiet'], capsys)
        assert status == 2 and 'not a folder' in err

    def test_subprocess_exit_status(self, tmp_path):
        proc = subprocess.run([sys.executable, '-m', 'galsynth', 'simulate', '-n', '0',
                               '-o', str(tmp_path)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1
        assert 'Traceback' not in proc.stderr

    def test_help_documents_options(self, capsys):
        with pytest.raises(SystemExit) as exc:
            main(['simulate', '--help'])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for option in ('-n', '--output', '--size', '--bands', '--seed', '--jobs',
                       '--overwrite', '--preset', '--min-r50', '--no-noise', '--no-psf',
                       '--no-neighbours', '--quiet'):
            assert option in text
