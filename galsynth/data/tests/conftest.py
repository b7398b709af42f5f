# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Fixtures of the galsynth.data tests: paths to the shipped and shared data, and
a replay of recorded HTTP responses in place of SkyServer and the SAS.
"""

import json
import os
from pathlib import Path

import pytest

import galsynth

DATA = Path(__file__).parent / 'data'
FRAMES = DATA / 'frames'
HTTP = DATA / 'http'
FIELD = '001992-1-0087'        # shipped cut-down field with two galaxies
STAR_FIELD = '005405-6-0099'   # shipped piece of the dense star field


def shared_data_dir():
    """``../shared/data`` beside the repository (or $GALSYNTH_SHARED_DATA), or None."""
    env = os.environ.get('GALSYNTH_SHARED_DATA')
    path = Path(env) if env else Path(galsynth.__file__).resolve().parents[2] / 'shared' / 'data'
    return path if (path / 'sdss_frames').is_dir() else None


@pytest.fixture(scope='session')
def shared_frames():
    path = shared_data_dir()
    if path is None:
        pytest.skip('shared SDSS frames not found (../shared/data/sdss_frames beside the '
                    'repository, or $GALSYNTH_SHARED_DATA)')
    return path / 'sdss_frames'


class Replay:
    """
    Stand-in for ``requests.Session.request`` that answers from the cassette.

    ``fail[url]`` is a list of HTTP status codes returned (with an empty body)
    before the recorded response; ``calls`` records every request.
    """

    def __init__(self, cassette=HTTP / 'cassette.json', overrides=None):
        self.interactions = json.loads(Path(cassette).read_text())['interactions']
        self.calls = []
        self.fail = {}
        self.overrides = overrides or {}

    def __call__(self, method, url, params=None, data=None, headers=None, files=None,
                 timeout=None, stream=False, auth=None, verify=True, allow_redirects=True,
                 json=None, **kwargs):
        import requests
        from requests.structures import CaseInsensitiveDict

        self.calls.append((method, url, dict(params or {})))
        response = requests.Response()
        response.url = url
        response.request = requests.Request(method, url, params=params).prepare()
        response.encoding = 'utf-8'
        pending = self.fail.get(url)
        if pending:
            response.status_code = pending.pop(0)
            response._content = b''
            return response
        if url in self.overrides:
            response.status_code = 200
            response._content = self.overrides[url]
            return response
        cmd = (params or {}).get('cmd', '')
        for entry in self.interactions:
            if entry['method'] == method and entry['url'] == url \
                    and entry.get('cmd_contains', '') in cmd:
                response.status_code = entry['status']
                response.headers = CaseInsensitiveDict(entry['headers'])
                response._content = (HTTP / entry['body']).read_bytes()
                response.headers['Content-Length'] = str(len(response._content))
                return response
        response.status_code = 404
        response._content = b'<html>404 Not Found</html>'
        return response


@pytest.fixture
def replay(monkeypatch):
    """Patch astroquery's SDSS session to answer from the recorded responses."""
    from astroquery.sdss import SDSS

    player = Replay()
    monkeypatch.setattr(SDSS._session, 'request', player)
    return player
