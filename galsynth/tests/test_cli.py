# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the ``galsynth`` command line as a whole (each subcommand has its own tests)."""

import argparse
import subprocess
import sys

import pytest

from galsynth.cli import COMMANDS, build_parser, main


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


class TestCommandLine:
    def test_every_command_registered(self):
        names = set(_subparsers(build_parser()))
        assert {c.replace('_', '-') for c in COMMANDS} <= names

    def test_every_option_documented(self):
        undocumented = []
        for name, sub in _subparsers(build_parser()).items():
            for action in sub._actions:
                if isinstance(action, argparse._HelpAction):
                    continue
                if not (action.help and action.help.strip()):
                    undocumented.append(f'{name} {"/".join(action.option_strings) or action.dest}')
        assert not undocumented

    @pytest.mark.parametrize('command', [c.replace('_', '-') for c in COMMANDS])
    def test_help(self, command, capsys):
        with pytest.raises(SystemExit) as exc:
            main([command, '--help'])
        assert exc.value.code == 0
        assert command in capsys.readouterr().out

    def test_version_and_module_entry_point(self):
        out = subprocess.run([sys.executable, '-m', 'galsynth', '--version'],
                             capture_output=True, text=True, check=True).stdout
        assert out.startswith('galsynth ')

    def test_bad_input_is_one_line(self, tmp_path):
        blocker = tmp_path / 'file'
        blocker.write_text('x')
        proc = subprocess.run([sys.executable, '-m', 'galsynth', 'generate', '--backend',
                               'parametric', '-n', '1', '-o', str(blocker)],
                              capture_output=True, text=True)
        assert proc.returncode == 2
        assert 'Traceback' not in proc.stderr
        assert proc.stderr.strip().count('\n') == 0
        assert 'not a folder' in proc.stderr
