# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of galsynth.data.frames on the shipped cut-down frames (always) and on
the full shared frames (skipped when ../shared/data is absent).
"""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from astropy.convolution import convolve
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import QTable
from astropy.wcs import WCS
from photutils.segmentation import detect_sources, make_2dgaussian_kernel
from scipy.ndimage import binary_dilation, map_coordinates

from galsynth.cli import main
from galsynth.data.frames import (
    FrameID,
    GalaxySelection,
    cut_stamp,
    extract_field,
    extract_frames_dir,
    find_fields,
    find_galaxies,
    measure_alignment,
    open_frame_file,
    parse_frame_name,
    read_field,
    read_frame,
    sdss_dark_variance,
    sdss_gain,
    sky_image,
)
from galsynth.exceptions import DataQualityWarning
from galsynth.products import galaxy_cube, galaxy_ivar, galaxy_truth, read_galaxy, write_galaxy

from .conftest import FIELD, FRAMES, STAR_FIELD

DATE = '2026-01-01T00:00:00'


def _fields(folder):
    return find_fields(folder)


@pytest.fixture(scope='module')
def tiny_field():
    (paths,) = _fields(FRAMES / FIELD).values()
    return read_field(paths)


@pytest.fixture(scope='module')
def tiny_extraction(tiny_field):
    return extract_field(tiny_field, size=64, date=DATE)


@pytest.fixture(scope='module')
def shared_field(shared_frames):
    return read_field(_fields(shared_frames / FIELD)[FrameID(1992, 1, 87)])


@pytest.fixture(scope='module')
def shared_star_field(shared_frames):
    return read_field(_fields(shared_frames / STAR_FIELD)[FrameID(5405, 6, 99)])


def noise_ratios(field, size=None):
    """Measured background RMS / noise-model sigma per band, in the field's centre."""
    ny, nx = field.ref.shape
    size = size or min(ny, nx) - 40
    cube, ivar, _, _ = cut_stamp(field, (nx - 1) / 2, (ny - 1) / 2, size)
    ratios = {}
    for band, img, iv in zip(field.bands, cube, ivar, strict=True):
        sigma = 1 / np.sqrt(iv)
        conv = convolve(img, make_2dgaussian_kernel(3.0, size=7))
        seg = detect_sources(conv, np.median(sigma), 5)
        mask = binary_dilation(seg.data > 0, iterations=5)
        assert (~mask).sum() > 0.2 * img.size  # mostly sky
        measured = sigma_clipped_stats(img[~mask], sigma=3)[2]
        ratios[band] = measured / np.median(sigma[~mask])
    return ratios


def centroid(img, radius=6):
    """First moment within ``radius`` of the image centre (0-based)."""
    n = img.shape[0]
    yy, xx = np.mgrid[0:n, 0:n]
    c = (n - 1) / 2
    w = np.where((xx - c)**2 + (yy - c)**2 <= radius**2, np.clip(img, 0, None), 0)
    return (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()


class TestNoiseModel:
    def test_gain_and_dark_variance_tables(self):
        assert sdss_gain('r', 1, 2000) == 4.71
        assert sdss_gain('u', 2, 1099) == 1.595
        assert sdss_gain('u', 2, 1100) == 1.825
        assert sdss_dark_variance('i', 2, 1499) == 5.76
        assert sdss_dark_variance('i', 2, 1500) == 6.25
        assert sdss_dark_variance('z', 4, 5000) == 12.6025
        with pytest.raises(ValueError, match='camcol must be 1-6'):
            sdss_gain('r', 7, 100)

    def test_sky_image_is_clamped_bilinear(self):
        rng = np.random.default_rng(3)
        allsky = rng.normal(100, 5, (12, 16))
        xi = np.linspace(-0.4, 15.4, 40)     # beyond the grid at both ends
        yi = np.linspace(0.6, 13.6, 30)
        sky = sky_image(allsky, xi, yi)
        yy, xx = np.meshgrid(np.clip(yi, 0, 11), np.clip(xi, 0, 15), indexing='ij')
        expected = map_coordinates(allsky, [yy, xx], order=1)
        np.testing.assert_allclose(sky, expected, rtol=1e-12)

    def test_ivar_follows_the_sdss_recipe(self):
        path = FRAMES / FIELD / f'frame-i-{FIELD}.fits.bz2'
        frame = read_frame(path)
        with open_frame_file(path) as hdul:
            img = hdul[0].data.astype(float)
            calib = hdul[1].data.astype(float)
            sky = hdul[2].data
            allsky, xi, yi = sky['ALLSKY'][0], sky['XINTERP'][0], sky['YINTERP'][0]
        rows, cols = np.array([0, 17, 150, 299]), np.array([0, 33, 200, 352])
        sky_dn = map_coordinates(allsky.astype(float), [yi[rows], xi[cols]], order=1,
                                 mode='nearest')
        dn = img[rows, cols] / calib[cols] + sky_dn
        err = np.sqrt(dn / 5.165 + 7.84) * calib[cols]   # camcol 1, i band, run < 1500
        np.testing.assert_allclose(frame.ivar[rows, cols], 1 / err**2, rtol=1e-5)
        assert frame.gain == 5.165 and frame.dark_variance == 7.84

    def test_noise_matches_background_rms_shipped(self, tiny_field):
        ratios = noise_ratios(tiny_field)
        for band, ratio in ratios.items():
            assert 0.9 < ratio < 1.1, (band, ratio)


class TestReadFrame:
    def test_read(self, tiny_field):
        frame = tiny_field.frames['r']
        assert frame.shape == (300, 320)
        assert frame.frame_id == FrameID(1992, 1, 87)
        assert frame.image.dtype == np.float32 and (frame.ivar > 0).all()
        assert not frame.saturated.any()
        assert tiny_field.reference == 'r' and tiny_field.bands == 'gri'

    def test_parse_name(self):
        assert parse_frame_name('a/frame-z-004510-4-0030.fits.bz2') == ('z', FrameID(4510, 4, 30))
        with pytest.raises(ValueError, match='not an SDSS frame file name'):
            parse_frame_name('frame-r-1035-6-17.fits')


class TestBadInput:
    def copy_field(self, tmp_path, field=FIELD):
        dest = tmp_path / field
        shutil.copytree(FRAMES / field, dest)
        return dest

    def test_truncated_frame(self, tmp_path):
        path = tmp_path / f'frame-r-{FIELD}.fits.bz2'
        path.write_bytes((FRAMES / FIELD / path.name).read_bytes()[:40000])
        with pytest.raises(ValueError, match=f'{path}: not a readable SDSS frame'):
            read_frame(path)

    def test_not_fits(self, tmp_path):
        path = tmp_path / f'frame-r-{FIELD}.fits'
        path.write_text('SIMPLE = nonsense\n')
        with pytest.raises(ValueError, match=f'{path}: not a readable SDSS frame'):
            read_frame(path)

    def test_name_contradicts_header(self, tmp_path):
        path = tmp_path / f'frame-r-{FIELD}.fits.bz2'
        shutil.copy(FRAMES / FIELD / f'frame-g-{FIELD}.fits.bz2', path)
        with pytest.raises(ValueError, match="FILTER='g' contradicts the file name"):
            read_frame(path)

    def test_nan_pixels(self, tmp_path):
        path = tmp_path / f'frame-r-{FIELD}.fits'
        with open_frame_file(FRAMES / FIELD / f'{path.name}.bz2') as hdul:
            hdul[0].data[10:12, 20:23] = np.nan
            hdul[0].data[50, 50] = np.inf
            hdul.writeto(path)
        with pytest.warns(DataQualityWarning, match=f'{path}: 7 NaN/inf pixel'):
            frame = read_frame(path)
        assert (frame.ivar[10:12, 20:23] == 0).all() and frame.ivar[50, 50] == 0
        assert np.isfinite(frame.image).all()

    def test_missing_band(self, tmp_path):
        folder = self.copy_field(tmp_path)
        missing = folder / f'frame-i-{FIELD}.fits.bz2'
        missing.unlink()
        with pytest.warns(DataQualityWarning, match=f"missing band.*'i'.*{missing}"):
            assert find_fields(tmp_path) == {}
        with pytest.raises(ValueError, match=f"field {FIELD}: missing band.*'i'"):
            read_field(list(folder.iterdir()), bands='gri')
        out = tmp_path / 'out'
        with pytest.warns(DataQualityWarning), pytest.raises(ValueError, match='no field has'):
            extract_frames_dir(tmp_path, out)
        assert not out.exists()

    def test_mixed_fields(self):
        paths = {'g': FRAMES / FIELD / f'frame-g-{FIELD}.fits.bz2',
                 'r': FRAMES / STAR_FIELD / f'frame-r-{STAR_FIELD}.fits.bz2'}
        with pytest.raises(ValueError, match='frames of different fields mixed'):
            read_field(paths)

    def test_empty_folder(self, tmp_path):
        with pytest.raises(ValueError, match='no SDSS frame files'):
            find_fields(tmp_path)
        with pytest.raises(FileNotFoundError):
            find_fields(tmp_path / 'nope')

    def test_bad_field_skipped_nothing_half_written(self, tmp_path):
        frames = tmp_path / 'frames'
        self.copy_field(frames)
        bad = self.copy_field(frames, STAR_FIELD) / f'frame-g-{STAR_FIELD}.fits.bz2'
        bad.write_bytes(bad.read_bytes()[:30000])
        out = tmp_path / 'out'
        with pytest.warns(DataQualityWarning, match=f'field {STAR_FIELD} skipped: {bad}'):
            catalog = extract_frames_dir(frames, out, date=DATE)
        assert not (out / STAR_FIELD).exists()
        assert sorted(p.name for p in out.iterdir()) == [FIELD, 'catalog.ecsv', 'extract.json']
        assert set(catalog['field_id']) == {FIELD}
        assert catalog.meta['fields'][STAR_FIELD].startswith('skipped')
        with pytest.raises(ValueError, match=str(bad)):
            extract_frames_dir(frames, tmp_path / 'strict', strict=True)


class TestExtraction:
    def test_products(self, tiny_extraction, tmp_path):
        hduls, catalog = tiny_extraction
        assert len(hduls) == len(catalog) == 2  # the two galaxies of the cut-out
        assert isinstance(catalog, QTable) and catalog['ra'].unit == 'deg'
        for hdul, row in zip(hduls, catalog, strict=True):
            path = write_galaxy(hdul, tmp_path / row['name'])
            back = read_galaxy(path, bands='gri')
            hdr = back[0].header
            assert hdr['GENERATR'] == 'sdss'
            assert (hdr['RUN'], hdr['CAMCOL'], hdr['FIELD']) == (1992, 1, 87)
            assert hdr['DET_SN'] >= 50
            assert galaxy_cube(back).shape == (3, 64, 64)
            ivar = galaxy_ivar(back)
            assert ivar.shape == (3, 64, 64) and (ivar > 0).all()
            assert galaxy_truth(back)['name'] == row['name']
            assert 'reproject_interp' in ''.join(hdr['HISTORY'])  # cards wrap long lines

    def test_stamp_wcs_centred_on_source(self, tiny_extraction):
        hduls, catalog = tiny_extraction
        for hdul, row in zip(hduls, catalog, strict=True):
            for band in 'GRI':
                w = WCS(hdul[band].header)
                x, y = w.world_to_pixel_values(row['ra'].value, row['dec'].value)
                assert abs(x - 31.5) <= 0.5 and abs(y - 31.5) <= 0.5
            hdr = hdul[0].header
            assert abs(hdr['SRC_X'] - hdr['STAMPX0'] - 31.5) <= 0.5
            # The light is where the WCS says: r-band centroid within 1 pixel.
            cx, cy = centroid(hdul['R'].data)
            assert abs(cx - 31.5) < 1 and abs(cy - 31.5) < 1

    def test_bands_aligned_in_stamps(self, tiny_extraction):
        hduls, _ = tiny_extraction
        for hdul in hduls:
            cr = np.array(centroid(hdul['R'].data, 4))
            for band in 'GI':
                assert np.hypot(*(np.array(centroid(hdul[band].data, 4)) - cr)) < 0.5

    def test_alignment_on_stars(self, tiny_field):
        table = measure_alignment(tiny_field, min_sn=50)
        assert table.meta['n_stars'] >= 2
        for band in 'gi':
            assert np.all(np.hypot(table[f'dx_{band}'], table[f'dy_{band}']) < 0.3)
            # The raw pixel grids are offset: without the WCS the bands would not line up.
            assert np.hypot(*table.meta[f'grid_offset_{band}']) > 2

    def test_stamp_noise_matches_background(self, tiny_extraction):
        hduls, _ = tiny_extraction
        for k, band in enumerate('gri'):
            resid, sigma = [], []
            for hdul in hduls:
                img = galaxy_cube(hdul)[k]
                iv = galaxy_ivar(hdul)[k]
                yy, xx = np.mgrid[0:64, 0:64]
                edge = np.hypot(xx - 31.5, yy - 31.5) > 26
                resid.append(img[edge])
                sigma.append(1 / np.sqrt(iv[edge]))
            measured = sigma_clipped_stats(np.concatenate(resid), sigma=3)[2]
            ratio = measured / np.median(np.concatenate(sigma))
            assert 0.85 < ratio < 1.15, (band, ratio)

    def test_size_128(self, tiny_field):
        hduls, catalog = extract_field(tiny_field, size=128, date=DATE)
        assert len(hduls) == 1 and galaxy_cube(hduls[0]).shape == (3, 128, 128)
        # The galaxy far enough from the cut-out's edges (frame label 118 in the full frame).
        assert abs(catalog['x'][0] - 199) < 2 and abs(catalog['y'][0] - 197) < 2

    def test_star_field_cutout_has_no_galaxy(self):
        (paths,) = find_fields(FRAMES / STAR_FIELD).values()
        table = find_galaxies(read_field(paths), size=64)
        assert len(table) >= 10
        assert 'blended' in table['status']    # large "sources" that are merged stars
        assert (table['status'] == 'galaxy').sum() == 0

    def test_selection_parameters(self, tiny_field):
        strict = GalaxySelection(min_sn=1e6)
        table = find_galaxies(tiny_field, selection=strict)
        assert set(table['status']) <= {'faint', 'edge'}
        assert table.meta['selection']['min_sn'] == 1e6

    def test_resume(self, tmp_path):
        out = tmp_path / 'out'
        first = extract_frames_dir(FRAMES / FIELD, out, size=64, date=DATE)
        stamp = out / first['file'][0]
        mtime = stamp.stat().st_mtime_ns
        again = extract_frames_dir(FRAMES / FIELD, out, size=64, date=DATE)
        assert list(again['file']) == list(first['file'])
        assert stamp.stat().st_mtime_ns == mtime        # not rewritten
        assert len(QTable.read(out / 'catalog.ecsv')) == 2
        with pytest.raises(ValueError, match='extraction with other settings'):
            extract_frames_dir(FRAMES / FIELD, out, size=128)


class TestExtractCommand:
    def test_extract(self, tmp_path, capsys):
        out = tmp_path / 'stamps'
        assert main(['extract', str(FRAMES), '-o', str(out), '--size', '64',
                     '--bands', 'gri', '--no-progress']) == 0
        text = capsys.readouterr().out
        assert f'{FIELD}: 2 galaxies' in text and f'{STAR_FIELD}: 0 galaxies' in text
        assert len(list(out.rglob('*.fits'))) == 2

    def test_bad_input_exits_2(self, tmp_path, capsys):
        assert main(['extract', str(tmp_path), '-o', str(tmp_path / 'o')]) == 2
        assert 'no SDSS frame files' in capsys.readouterr().err

    def test_missing_band_reported(self, tmp_path, capsys, caplog):
        folder = tmp_path / FIELD
        shutil.copytree(FRAMES / FIELD, folder)
        (folder / f'frame-i-{FIELD}.fits.bz2').unlink()
        assert main(['extract', str(tmp_path), '-o', str(tmp_path / 'o'), '--no-progress']) == 2
        assert f"missing band(s) 'i' ({folder / f'frame-i-{FIELD}.fits.bz2'})" in caplog.text
        assert 'no field has frames in all the bands' in capsys.readouterr().err
        assert not (tmp_path / 'o').exists()

    def test_help_subprocess(self):
        result = subprocess.run([sys.executable, '-m', 'galsynth', 'extract', '--help'],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and '--size' in result.stdout


@pytest.mark.shared_data
class TestSharedFrames:
    def test_alignment_accuracy(self, shared_field):
        table = measure_alignment(shared_field, max_stars=30)
        meta = table.meta
        assert meta['n_stars'] >= 20
        for band in 'gi':
            # Sub-pixel: pixel-index or nearest-pixel alignment would be off by
            # ~10 pixels or scatter by 0.4 pixel; measured here 0.21 and 0.09 pixel.
            assert np.hypot(meta[f'median_dx_{band}'], meta[f'median_dy_{band}']) < 0.3
            assert meta[f'rms_{band}'] < 0.2
        assert np.hypot(*meta['grid_offset_g']) > 5

    def test_noise_matches_background_rms(self, shared_field):
        for band, ratio in noise_ratios(shared_field, size=600).items():
            assert 0.9 < ratio < 1.1, (band, ratio)

    def test_galaxies_found(self, shared_field):
        table = find_galaxies(shared_field, size=64)
        assert (table['status'] == 'galaxy').sum() >= 4

    def test_star_field_rejected(self, shared_star_field):
        table = find_galaxies(shared_star_field, size=64)
        assert len(table) > 300                            # plenty of sources ...
        assert (table['status'] == 'galaxy').sum() <= 1    # ... but (almost) no galaxy

    def test_shipped_cutout_matches_frame(self, shared_field, tiny_field):
        tiny, full = tiny_field.frames['r'], shared_field.frames['r']
        np.testing.assert_array_equal(tiny.image, full.image[380:680, 1560:1880])
        np.testing.assert_allclose(tiny.ivar, full.ivar[380:680, 1560:1880], rtol=1e-6)
        with fits.open(FRAMES / FIELD / f'frame-r-{FIELD}.fits.bz2') as hdul:
            assert 'galsynth test data' in str(hdul[0].header['HISTORY'])
