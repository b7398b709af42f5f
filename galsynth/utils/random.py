# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Explicit seeding.

galsynth never draws from a global random state: every function that needs
randomness takes a ``seed`` (int or `None`) or a `numpy.random.Generator`.
Per-item seeds (one per galaxy, one per latent) come from a
`numpy.random.SeedSequence` spawned from the user's seed, so item *k* is the
same whether it is made alone, in a batch, or in another process.
"""

import numpy as np

__all__ = ['as_rng', 'seed_sequence', 'item_seeds']


def as_rng(seed):
    """
    Return a `numpy.random.Generator` for ``seed``.

    Parameters
    ----------
    seed : int, `numpy.random.Generator`, `numpy.random.SeedSequence` or `None`
        `None` draws fresh OS entropy (not reproducible).

    Returns
    -------
    `numpy.random.Generator`
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def seed_sequence(seed):
    """
    Return a `numpy.random.SeedSequence` for an integer seed (or fresh entropy).

    Parameters
    ----------
    seed : int, `numpy.random.SeedSequence` or `None`

    Returns
    -------
    `numpy.random.SeedSequence`
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def item_seeds(seed, n, *, start=0):
    """
    Independent 63-bit integer seeds for the items ``start`` to ``start + n - 1``.

    Item *k*'s seed depends only on ``seed`` and *k*, not on ``n`` or ``start``.

    Parameters
    ----------
    seed : int
        Base seed.
    n : int
        Number of items.
    start : int, optional
        Index of the first item.

    Returns
    -------
    seeds : list of int
    """
    return [int(np.random.SeedSequence([int(seed), k]).generate_state(2, np.uint64)[0]
                >> np.uint64(1)) for k in range(start, start + n)]
