# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Atomic file output.

Everything galsynth writes (galaxy products, catalogues, checkpoints, reports)
goes through `atomic_write`: the data are written to a temporary file in the
destination folder and renamed over the target only once complete, so that an
interrupted write never leaves a truncated file and never damages the previous
version of the file.
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ['atomic_write', 'atomic_write_bytes', 'check_output_dir']


@contextlib.contextmanager
def atomic_write(path, *, overwrite=False, mode='wb'):
    """
    Context manager that yields a temporary path to write, then renames it.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The final destination.
    overwrite : bool, optional
        If `False` (default) and ``path`` exists, raise `FileExistsError`
        before anything is written.
    mode : {'wb', 'path'}, optional
        ``'wb'`` yields an open binary file object; ``'path'`` yields the
        temporary `~pathlib.Path` for writers that want a file name.

    Yields
    ------
    file object or `~pathlib.Path`
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f'{path}: file exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    tmp = Path(tmp)
    try:
        if mode == 'path':
            os.close(fd)
            yield tmp
        else:
            with os.fdopen(fd, mode) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
        if path.exists() and not overwrite:
            msg = f'{path}: file appeared while writing; pass overwrite=True to replace it'
            raise FileExistsError(msg)
        # mkstemp creates mode 0600: give the file the usual permissions (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data, *, overwrite=False):
    """
    Write ``data`` (bytes or str) to ``path`` atomically.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Destination.
    data : bytes or str
        Content; a `str` is encoded as UTF-8.
    overwrite : bool, optional
        Replace an existing file.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_write(path, overwrite=overwrite) as fh:
        fh.write(data)


def check_output_dir(path):
    """
    Create ``path`` if needed and check that it is a writable folder.

    Parameters
    ----------
    path : str or `~pathlib.Path`

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    OSError
        With a message naming the folder when it cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        msg = f'{path}: output path exists and is not a folder'
        raise NotADirectoryError(msg)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f'{path}: cannot create output folder ({exc.strerror})'
        raise OSError(msg) from None
    if not os.access(path, os.W_OK | os.X_OK):
        msg = f'{path}: output folder is not writable'
        raise PermissionError(msg)
    return path
