# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Process-parallel map with a progress bar.
"""

import logging
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

__all__ = ['parallel_map']

log = logging.getLogger(__name__)


def parallel_map(func, items, *, jobs=1, progress=False, desc=None, unit='it', chunksize=1):
    """
    Apply ``func`` to every item, in order, optionally over processes.

    Parameters
    ----------
    func : callable
        A picklable (module-level) function of one argument.
    items : iterable
        The arguments.
    jobs : int, optional
        Number of worker processes; 1 (default) runs in this process.
    progress : bool, optional
        Show a tqdm progress bar.
    desc : str, optional
        Progress bar label.
    unit : str, optional
        Progress bar unit.
    chunksize : int, optional
        Items per task sent to a worker.

    Yields
    ------
    result
        ``func(item)`` for each item, in the order of ``items``.
    """
    items = list(items)
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    try:
        if jobs is None or jobs <= 1 or len(items) <= 1:
            for item in items:
                yield func(item)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                for result in pool.map(func, items, chunksize=chunksize):
                    yield result
                    bar.update(1)
    finally:
        bar.close()
