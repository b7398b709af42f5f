# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the galaxy product format (galsynth.products)."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from galsynth.bands import PIXEL_SCALE
from galsynth.products import (
    PROVENANCE_KEYWORDS,
    galaxy_bands,
    galaxy_cube,
    galaxy_ivar,
    galaxy_truth,
    make_galaxy,
    read_galaxy,
    write_galaxy,
)


def _images(shape=(3, 24, 32), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(1.0, 0.1, size=shape).astype(np.float32)


@pytest.fixture
def product():
    return make_galaxy(_images(), bands='gri', ra=150.1, dec=2.2, redshift=0.05,
                       generator='test', seed=7, truth={'mag_r': 17.2, 'type': 'red'},
                       ivar=np.full((3, 24, 32), 100.0), history=['made by a test'])


class TestMakeGalaxy:
    def test_layout(self, product):
        assert [h.name for h in product] == ['PRIMARY', 'G', 'R', 'I', 'IVAR_G', 'IVAR_R',
                                             'IVAR_I', 'TRUTH']
        assert product[0].data is None
        assert galaxy_bands(product) == ('g', 'r', 'i')

    def test_band_headers(self, product):
        for band in 'gri':
            hdr = product[band.upper()].header
            assert hdr['BUNIT'] == 'nanomaggy'
            assert hdr['FILTER'] == band
            assert hdr['MAGZP'] == 22.5
            assert product[band.upper()].data.dtype == np.float32
            assert 'CD1_1' in hdr and 'PC1_1' not in hdr

    def test_wcs_pixel_scale_and_centre(self, product):
        hdr = product['R'].header
        w = WCS(hdr)
        scales = proj_plane_pixel_scales(w) * 3600.0
        np.testing.assert_allclose(scales, PIXEL_SCALE.to_value(u.arcsec), atol=1e-6)
        assert w.wcs.radesys == 'ICRS'
        ny, nx = product['R'].data.shape
        # the centre of the image is at CRVAL
        centre = w.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        target = SkyCoord(150.1 * u.deg, 2.2 * u.deg, frame='icrs')
        assert centre.separation(target) < 1e-6 * u.arcsec
        np.testing.assert_allclose(w.wcs.crval, [150.1, 2.2])
        # East is left: RA decreases with x
        assert w.wcs.cd[0, 0] < 0 and w.wcs.cd[1, 1] > 0

    def test_provenance(self, product):
        hdr = product[0].header
        assert hdr['ORIGIN'] == 'galsynth'
        assert hdr['GENERATR'] == 'test'
        assert hdr['SEED'] == 7
        assert hdr['REDSHIFT'] == 0.05
        assert hdr['BANDS'] == 'gri'
        assert 'T' in hdr['DATE']
        assert 'made by a test' in str(hdr['HISTORY'])
        for key in ('GSVER', 'PYVER', 'NPVER', 'APVER'):
            assert key in hdr and key in PROVENANCE_KEYWORDS

    def test_truth_and_ivar(self, product):
        truth = galaxy_truth(product)
        assert truth['mag_r'] == pytest.approx(17.2)
        assert truth['type'] == 'red'
        np.testing.assert_array_equal(galaxy_ivar(product), 100.0)

    def test_normalization_cards(self):
        h = make_galaxy(_images(), bands='gri',
                        normalization={'kind': 'asinh', 'bands': 'gri',
                                       'softening': [0.1, 0.2, 0.3], 'scale': [1, 2, 3]})
        assert h[0].header['NORMKIND'] == 'asinh'
        assert h[0].header['NSOF2'] == pytest.approx(0.3)
        assert h[0].header['NSCA0'] == 1.0

    @pytest.mark.parametrize('bad', [np.zeros((2, 8, 8)), np.zeros((8, 8)), np.zeros((3, 8))])
    def test_bad_shape(self, bad):
        with pytest.raises(ValueError, match='shape'):
            make_galaxy(bad, bands='gri')

    def test_bad_band_and_dec(self):
        with pytest.raises(ValueError, match='unknown band'):
            make_galaxy(_images(), bands='grx')
        with pytest.raises(ValueError, match='dec'):
            make_galaxy(_images(), bands='gri', dec=95.0)


class TestWriteRead:
    def test_round_trip(self, product, tmp_path):
        path = write_galaxy(product, tmp_path / 'g.fits')
        back = read_galaxy(path, bands='gri')
        np.testing.assert_array_equal(galaxy_cube(back), galaxy_cube(product))
        assert back[0].header['SEED'] == 7
        assert 'CHECKSUM' in back['R'].header
        with fits.open(path, checksum=True) as hdul:  # verifies the checksums
            assert hdul['R'].header['DATASUM']

    def test_no_overwrite(self, product, tmp_path):
        path = write_galaxy(product, tmp_path / 'g.fits')
        before = path.read_bytes()
        other = make_galaxy(_images(seed=3), bands='gri')
        with pytest.raises(FileExistsError, match='overwrite'):
            write_galaxy(other, path)
        assert path.read_bytes() == before
        write_galaxy(other, path, overwrite=True)
        assert path.read_bytes() != before

    def test_atomic_write_failure_leaves_nothing(self, product, tmp_path, monkeypatch):
        path = tmp_path / 'g.fits'

        def boom(self, *args, **kwargs):
            with open(args[0], 'wb') as fh:
                fh.write(b'partial')
            raise OSError('disk full')

        monkeypatch.setattr(fits.HDUList, 'writeto', boom)
        with pytest.raises(OSError, match='disk full'):
            write_galaxy(product, path)
        assert list(tmp_path.iterdir()) == []

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='nope.fits'):
            read_galaxy(tmp_path / 'nope.fits')

    def test_not_fits(self, tmp_path):
        path = tmp_path / 'text.fits'
        path.write_text('hello, not FITS')
        with pytest.raises(ValueError, match=r'text\.fits: not a readable FITS'):
            read_galaxy(path)

    def test_truncated(self, product, tmp_path):
        path = write_galaxy(product, tmp_path / 'g.fits')
        data = path.read_bytes()
        trunc = tmp_path / 'trunc.fits'
        trunc.write_bytes(data[:len(data) // 2])
        with pytest.raises(ValueError, match=r'trunc\.fits'):
            read_galaxy(trunc)

    def test_missing_band(self, product, tmp_path):
        path = write_galaxy(product, tmp_path / 'g.fits')
        with pytest.raises(ValueError, match=r"g\.fits: missing band HDU\(s\) 'Z'"):
            read_galaxy(path, bands='griz')

    def test_wrong_units(self, product, tmp_path):
        product['R'].header['BUNIT'] = 'counts'
        path = tmp_path / 'u.fits'
        product.writeto(path)
        with pytest.raises(ValueError, match=r"u\.fits: band R has BUNIT='counts'"):
            read_galaxy(path)

    def test_nan_only(self, product, tmp_path):
        product['G'].data[:] = np.nan
        path = tmp_path / 'n.fits'
        product.writeto(path)
        with pytest.raises(ValueError, match=r'n\.fits: band G has no finite pixel'):
            read_galaxy(path)

    def test_shape_mismatch(self, product, tmp_path):
        product['I'].data = np.ones((10, 10), dtype=np.float32)
        path = tmp_path / 's.fits'
        product.writeto(path)
        with pytest.raises(ValueError, match=r's\.fits: band I has shape \(10, 10\)'):
            read_galaxy(path)

    def test_no_bands(self, tmp_path):
        path = tmp_path / 'empty.fits'
        fits.HDUList([fits.PrimaryHDU()]).writeto(path)
        with pytest.raises(ValueError, match=r'empty\.fits: no band image HDU'):
            read_galaxy(path)


def test_docs_list_every_provenance_keyword():
    """The keyword table in docs/products.rst documents every provenance card."""
    from pathlib import Path

    import galsynth

    doc = Path(galsynth.__file__).parents[1] / 'docs' / 'products.rst'
    if not doc.exists():
        pytest.skip('docs/ not available (not a source checkout)')
    text = doc.read_text()
    missing = [k for k in PROVENANCE_KEYWORDS if f'``{k}``' not in text]
    assert not missing
