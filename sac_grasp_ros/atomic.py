"""Atomic file writes: a reader (a viewer, a resumed run, a crash) sees the old file or the new one,
never half of one.

Every writer of outputs goes through here, so there is one temporary-name style and one durability
rule: the data is written beside its final place, fsynced, renamed over the target, and the rename
itself is fsynced (the directory entry). A failed write removes its temporary file and leaves the
previous file untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A unique hidden name in `path`'s directory (a rename across file systems would not be atomic).

    It keeps `path`'s suffix, so writers that pick the format from the name (matplotlib, np.save) write
    the format the target wants.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make the renames in `directory` durable (a file's fsync does not cover its directory entry)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def write_synced(path: str | os.PathLike, writer: Callable[[BinaryIO], Any]) -> None:
    """Create `path` with `writer(file)` and fsync it, in place: for the files of a directory that is
    itself written under a temporary name and swapped in whole (a checkpoint), where a temporary name
    per file would only add renames and directory fsyncs."""
    with open(path, "wb") as file:
        writer(file)
        file.flush()
        os.fsync(file.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on an exception it is removed.

    For writers that want a file name (matplotlib's savefig, torch.save, torch.onnx.export); open the
    yielded path yourself for writers that want a file object (np.save appends ".npy" to other names).
    """
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Replace `path` with `data` (str is written as UTF-8) atomically; returns the path."""
    content = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(content)
    return Path(path)
