# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Warning and error classes of galsynth.

Every warning that galsynth emits about questionable *data* (rather than about
programming errors) is a subclass of `GalsynthWarning`, itself an
`~astropy.utils.exceptions.AstropyWarning`, so that users can filter them as a
group (``warnings.simplefilter('ignore', GalsynthWarning)``).
"""

from astropy.utils.exceptions import AstropyWarning

__all__ = [
    'GalsynthWarning',
    'DataQualityWarning',
    'NoDetectionWarning',
    'PhotometryWarning',
    'TrainingWarning',
]


class GalsynthWarning(AstropyWarning):
    """Base class of all warnings raised by galsynth."""


class DataQualityWarning(GalsynthWarning):
    """Input data are usable but questionable (NaN pixels, missing bands, ...)."""


class NoDetectionWarning(GalsynthWarning):
    """No source was detected where one was expected."""


class PhotometryWarning(GalsynthWarning):
    """A photometric measurement is flagged (edge, blend, missing zero point, ...)."""


class TrainingWarning(GalsynthWarning):
    """Something questionable happened during GAN training."""
