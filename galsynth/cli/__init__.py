# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The ``galsynth`` command line.

Thin by design: each subcommand lives in its own module of this package,
which defines ``add_parser(subparsers)`` (the options, documented in their
help) and ``run(args)`` (calls the library and reports). Bad input exits with
status 2 and a one-line message, never a traceback.
"""

import argparse
import importlib
import logging
import os
import sys

# PyTorch's OpenMP threads spin while they wait for each other by default; on a
# shared or busy CPU that makes two threads several times slower than one. The
# command line prefers passive waiting (must be set before torch is imported).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

__all__ = ['main', 'CommandError', 'positive_int', 'nonnegative_int']

#: Subcommand modules, in the order of the data path.
COMMANDS = ('simulate', 'fetch_sdss', 'extract', 'train', 'generate', 'measure', 'evaluate')


class CommandError(Exception):
    """An error to report to the user in one line (exit status 2)."""


class _OneLineErrors(argparse.ArgumentParser):
    """An argument parser that reports bad arguments in one line (no usage dump), status 2."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


def build_parser():
    """
    The argument parser with every subcommand.

    Returns
    -------
    `argparse.ArgumentParser`
    """
    from .. import __version__

    parser = _OneLineErrors(
        prog='galsynth',
        description='Synthetic galaxy images in physical units: simulate, extract real SDSS '
                    'stamps, train a StyleGAN, generate calibrated FITS, measure and evaluate.')
    parser.add_argument('--version', action='version', version=f'galsynth {__version__}')
    parser.add_argument('-v', '--verbose', action='count', default=0,
                        help='more log messages (-v info, -vv debug)')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=_OneLineErrors)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f'.{name}', __name__)
        module.add_parser(sub)
    return parser


def _int_at_least(text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f'{text!r} must be >= {minimum}')
    return value


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text):
    """argparse type: an integer >= 0 (seeds, counts that may be zero)."""
    return _int_at_least(text, 0)


def main(argv=None):
    """
    Entry point of the ``galsynth`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format='%(levelname)s %(name)s: %(message)s')
    # astropy's logger prints AstropyWarnings (ours included) with its own handler:
    # do not print them a second time through the root handler.
    logging.getLogger('astropy').propagate = False
    try:
        return args.func(args) or 0
    except (CommandError, ValueError, FileExistsError, FileNotFoundError, OSError) as exc:
        print(f'galsynth {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'galsynth {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
