# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Sphinx configuration of the galsynth documentation (sphinx-astropy)."""

import datetime
import os
import sys

from sphinx_astropy.conf.v2 import *  # noqa: F403,F401
from sphinx_astropy.conf.v2 import exclude_patterns, intersphinx_mapping, rst_epilog  # noqa: F401

sys.path.insert(0, os.path.abspath('..'))

import galsynth  # noqa: E402

project = 'galsynth'
author = 'The galsynth developers'
copyright = f'{datetime.datetime.now(datetime.UTC).year}, {author}'
version = galsynth.__version__.split('+')[0]
release = galsynth.__version__

exclude_patterns.extend(['_build', '_templates'])
html_title = f'galsynth {release}'
html_static_path = ['_static']
html_theme_options = {
    'github_url': 'https://example.invalid/galsynth',
    'use_edit_page_button': False,
}
html_context = {'default_mode': 'light'}
# No network here: intersphinx inventories cannot be fetched.
intersphinx_mapping.clear()
intersphinx_disabled_reftypes = ['*']
nitpicky = False
automodapi_toctreedirnm = 'api'
automodsumm_inherited_members = False
numpydoc_show_class_members = False
suppress_warnings = ['config.cache']
automodapi_inheritance_diagram = False
