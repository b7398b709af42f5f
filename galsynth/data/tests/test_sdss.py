# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of galsynth.data.sdss: the astroquery request layer answers from
recorded HTTP responses (``data/http``), so the whole astroquery path (URL,
payload, CSV parsing) and our download logic run for real, offline.
"""

import functools
import json

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from astroquery.exceptions import RemoteServiceError

from galsynth.cli import main
from galsynth.data.frames import FrameID, read_frame
from galsynth.data.sdss import (
    MANIFEST_NAME,
    DownloadWarning,
    download_frames,
    fields_for_coordinates,
    frame_url,
    galaxy_query_sql,
    query_galaxies,
    verify_frame_file,
)

from .conftest import FIELD, FRAMES

FID = FrameID(1992, 1, 87)
R_URL = ('https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/1992/1/'
         'frame-r-001992-1-0087.fits.bz2')


class TestQuery:
    def test_query_galaxies(self, replay):
        table = query_galaxies(z_max=0.1, min_radius=5 * u.arcsec, limit=10)
        assert isinstance(table, QTable)
        assert len(table) == 2
        assert table['ra'].unit == u.deg and table['petroRad_r'].unit == u.arcsec
        assert table['petroMag_r'].unit == u.mag
        assert table['objID'].dtype == np.uint64
        assert table['objID'][0] == 1237654028714180726
        assert list(table['run']) == [1992, 1992] and table['camcol'][0] == 1
        np.testing.assert_allclose(table['z'].value, [0.0787, 0.0912])
        # The request astroquery sent: the SQL, CSV format, to DR17's SkyServer.
        method, url, params = replay.calls[-1]
        assert url.endswith('/dr17/en/tools/search/x_results.aspx')
        assert params['format'] == 'csv'
        assert 'TOP 10' in params['cmd'] and 's.z < 0.1' in params['cmd']
        assert 'p.petroRad_r > 5' in params['cmd']
        assert table.meta['sql'] == galaxy_query_sql(z_max=0.1, min_radius=5, limit=10)

    def test_empty_result(self, replay):
        table = query_galaxies(data_release=16)
        assert len(table) == 0
        assert 'petroRad_r' in table.colnames and table['ra'].unit == u.deg

    def test_server_error(self, replay):
        with pytest.raises(RemoteServiceError, match='Incorrect syntax'):
            query_galaxies(data_release=15)

    @pytest.mark.parametrize('kwargs', [{'limit': 0}, {'z_max': 0.0}, {'z_min': 0.2, 'z_max': 0.1}])
    def test_bad_arguments(self, kwargs):
        with pytest.raises(ValueError):
            galaxy_query_sql(**kwargs)

    def test_fields_for_coordinates(self, replay):
        coords = SkyCoord([162.9073573, 162.8924951], [1.4525558, 1.4437734], unit='deg')
        table = fields_for_coordinates(coords)
        assert list(table['index']) == [0, 1]
        assert set(table['field']) == {87}
        cmd = replay.calls[-1][2]['cmd']
        assert cmd.count('fGetNearestObjEq') == 2 and 'UNION ALL' in cmd


class TestDownload:
    def test_frame_url(self):
        assert frame_url('r', FID) == R_URL
        assert '/dr12/boss/' in frame_url('r', FID, data_release=12)

    def test_download_then_cached(self, replay, tmp_path):
        table = query_galaxies()
        files = download_frames(table, cache_dir=tmp_path, expected_shape=None, backoff=0)
        assert list(files['status']) == ['downloaded'] * 3
        assert list(files['band']) == ['g', 'r', 'i']
        for row in files:
            local = tmp_path / FIELD / f'frame-{row["band"]}-{FIELD}.fits.bz2'
            assert str(local) == row['path']
            assert local.read_bytes() == (FRAMES / FIELD / local.name).read_bytes()
            read_frame(local)  # a valid frame
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert len(manifest['files']) == 3
        assert all(e['status'] == 'ok' for e in manifest['files'].values())
        # A second run finds everything in the cache and makes no request.
        n = len(replay.calls)
        again = download_frames(table, cache_dir=tmp_path, expected_shape=None)
        assert list(again['status']) == ['cached'] * 3
        assert len(replay.calls) == n

    def test_from_coordinates(self, replay, tmp_path):
        coords = SkyCoord(162.9073573, 1.4525558, unit='deg')
        files = download_frames(coords, bands='r', cache_dir=tmp_path, expected_shape=None)
        assert list(files['status']) == ['downloaded']

    def test_retry_with_backoff(self, replay, tmp_path, monkeypatch):
        sleeps = []
        monkeypatch.setattr('galsynth.data.sdss.time.sleep', sleeps.append)
        replay.fail[R_URL] = [503, 500]
        files = download_frames(Table({'run': [1992], 'camcol': [1], 'field': [87]}),
                                bands='r', cache_dir=tmp_path, expected_shape=None,
                                backoff=1.5)
        assert list(files['status']) == ['downloaded']
        assert sleeps == [1.5, 3.0]  # exponential back-off
        assert [c[1] for c in replay.calls].count(R_URL) == 3

    def test_permanent_error_not_retried(self, replay, tmp_path):
        replay.fail[R_URL] = [404]
        with pytest.warns(DownloadWarning, match='frame-r-001992-1-0087.*404'):
            files = download_frames(Table({'run': [1992], 'camcol': [1], 'field': [87]}),
                                    bands='r', cache_dir=tmp_path, expected_shape=None,
                                    backoff=0)
        assert files['status'][0] == 'failed'
        assert [c[1] for c in replay.calls].count(R_URL) == 1
        assert not (tmp_path / FIELD / 'frame-r-001992-1-0087.fits.bz2').exists()

    def test_verification_rejects_bad_content(self, replay, tmp_path):
        # The server sends a truncated file every time: nothing is left in place.
        replay.overrides[R_URL] = (FRAMES / FIELD / 'frame-r-001992-1-0087.fits.bz2'
                                   ).read_bytes()[:20000]
        with pytest.warns(DownloadWarning, match='not a readable FITS'):
            files = download_frames(Table({'run': [1992], 'camcol': [1], 'field': [87]}),
                                    bands='r', cache_dir=tmp_path, expected_shape=None,
                                    retries=1, backoff=0)
        assert files['status'][0] == 'failed'
        assert [p.name for p in (tmp_path / FIELD).iterdir()] == []
        manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
        assert manifest['files'][f'{FIELD}/frame-r-{FIELD}.fits.bz2']['status'] == 'failed'

    def test_wrong_shape_rejected(self, replay, tmp_path):
        with pytest.warns(DownloadWarning, match=r'shape \(300, 320\), expected \(1489, 2048\)'):
            files = download_frames(Table({'run': [1992], 'camcol': [1], 'field': [87]}),
                                    bands='r', cache_dir=tmp_path, retries=0)
        assert files['status'][0] == 'failed'

    def test_interrupted_download_resumes(self, replay, tmp_path):
        table = Table({'run': [1992], 'camcol': [1], 'field': [87]})
        replay.fail[R_URL] = [503]
        with pytest.warns(DownloadWarning):
            first = download_frames(table, cache_dir=tmp_path, expected_shape=None, retries=0)
        assert list(first['status']) == ['downloaded', 'failed', 'downloaded']
        n = len(replay.calls)
        second = download_frames(table, cache_dir=tmp_path, expected_shape=None, retries=0)
        assert list(second['status']) == ['cached', 'downloaded', 'cached']
        assert [c[1] for c in replay.calls[n:]] == [R_URL]

    def test_verify_frame_file(self, tmp_path):
        path = FRAMES / FIELD / 'frame-g-001992-1-0087.fits.bz2'
        verify_frame_file(path, band='g', frame_id=FID, expected_shape=None)
        with pytest.raises(ValueError, match="FILTER='g', expected 'r'"):
            verify_frame_file(path, band='r', frame_id=FID, expected_shape=None)
        text = tmp_path / 'frame-g-001992-1-0087.fits.bz2'
        text.write_text('not a frame')
        with pytest.raises(ValueError, match='not a readable FITS'):
            verify_frame_file(text, band='g', frame_id=FID, expected_shape=None)

    def test_bad_input(self, tmp_path):
        with pytest.raises(TypeError, match='table with run, camcol, field'):
            download_frames([1, 2], cache_dir=tmp_path)
        with pytest.raises(ValueError, match='lacks column'):
            download_frames(Table({'run': [1]}), cache_dir=tmp_path)


class TestFetchCommand:
    def test_fetch_sdss(self, replay, tmp_path, monkeypatch, capsys):
        # The shipped frames are cut-outs of 2048x1489 frames: accept their shape.
        monkeypatch.setattr('galsynth.data.sdss.download_frames',
                            functools.partial(download_frames, expected_shape=None))
        assert main(['fetch-sdss', '-o', str(tmp_path), '--limit', '5', '--no-progress']) == 0
        out = capsys.readouterr().out
        assert '2 galaxies' in out and '3 frames downloaded' in out
        assert len(QTable.read(tmp_path / 'galaxies.ecsv')) == 2
        assert (tmp_path / 'frames' / FIELD / f'frame-i-{FIELD}.fits.bz2').is_file()
        # Again: the table is reused and the frames are in the cache.
        assert main(['fetch-sdss', '-o', str(tmp_path), '--no-progress']) == 0
        assert '3 already there' in capsys.readouterr().out

    def test_failed_download_exit_status(self, replay, tmp_path, monkeypatch, caplog):
        monkeypatch.setattr('galsynth.data.sdss.download_frames',
                            functools.partial(download_frames, expected_shape=None))
        replay.fail[R_URL] = [404]
        assert main(['fetch-sdss', '-o', str(tmp_path), '--no-progress']) == 1
        assert 'frame-r-001992-1-0087.fits.bz2: download failed' in caplog.text

    def test_query_only(self, replay, tmp_path):
        assert main(['fetch-sdss', '-o', str(tmp_path), '--query-only']) == 0
        assert (tmp_path / 'galaxies.ecsv').is_file()
        assert not (tmp_path / 'frames').exists()
