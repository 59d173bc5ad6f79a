"""Files that survive a power cut: either the old or the new content, never empty or torn.

Linux filesystems (ext4 with its default data=ordered, f2fs, btrfs) may keep a new file's
data, its name in the directory and a rename in memory for seconds after the call
returns. After a cut, a file written in place can be empty or half-written, and a file
just created can be missing. So:

* :func:`atomic_write` writes a temporary file in the same folder, fsyncs it, renames it
  over the target and fsyncs the folder: after a cut the target holds the old or the new
  bytes, whole;
* :func:`create_exclusive` makes a new file that must not be overwritten (a key) and
  fsyncs it and its folder before returning;
* :func:`fsync_dir` makes a folder's entries (new files, renames, unlinks) durable.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: str | Path) -> None:
    """Make the names in folder ``path`` durable (created, renamed, removed files)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(path: str | Path, mode: int = 0o755) -> list[Path]:
    """``mkdir -p`` whose new folders survive a cut: each parent is fsynced after a child
    is made in it. Returns the folders created."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        fsync_dir(folder.parent)
    return list(reversed(missing))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path: str | Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``data`` so that after a power cut it holds either its old
    content or ``data``, never a mix or nothing. ``owner``: (uid, gid) for the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask must not loosen or tighten what was asked
            if owner is not None:
                os.fchown(fd, *owner)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def create_exclusive(path: str | Path, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Create ``path`` (FileExistsError if it exists: never overwrites), write ``data``,
    and make the file and its name durable before returning. The content appears whole
    or the file is absent after a cut: written to a temporary name, then linked."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None:
                os.fchown(fd, *owner)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # fails if path exists: no overwrite, unlike rename
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    fsync_dir(path.parent)
