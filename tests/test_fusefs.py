"""The forgetting filesystem itself (tests/fusefs.py): each rule of its model shown."""

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from fusefs import fuse_available, mounted

pytestmark = pytest.mark.skipif(bool(fuse_available()), reason=fuse_available() or "")


@pytest.fixture
def fs(tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "old.txt").write_bytes(b"old content")
    with mounted(seed, tmp_path / "mnt") as mount:
        yield mount, tmp_path / "mnt", tmp_path / "after"


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_seed_is_there_and_durable(fs):
    mount, mnt, after = fs
    assert (mnt / "old.txt").read_bytes() == b"old content"
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"old content"


def test_unsynced_data_is_lost(fs):
    mount, mnt, after = fs
    (mnt / "old.txt").write_bytes(b"new content, never synced")
    assert (mnt / "old.txt").read_bytes() == b"new content, never synced"
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"old content"


def test_synced_data_is_kept(fs):
    mount, mnt, after = fs
    with open(mnt / "old.txt", "r+b") as f:
        f.write(b"NEW")
        f.flush()
        os.fsync(f.fileno())
        f.write(b" and more, unsynced")
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"NEW content"


def test_a_new_file_needs_its_folder_synced(fs):
    mount, mnt, after = fs
    with open(mnt / "a", "wb") as f:
        f.write(b"a")
        f.flush()
        os.fsync(f.fileno())  # the data, not the name
    with open(mnt / "b", "wb") as f:
        f.write(b"b")
        f.flush()
        os.fsync(f.fileno())
    fsync_path(mnt)  # now both names are durable...
    with open(mnt / "c", "wb") as f:
        f.write(b"c")
        f.flush()
        os.fsync(f.fileno())  # ...but not this one's
    mount.cut(after)
    assert sorted(p.name for p in after.iterdir()) == ["a", "b", "old.txt"]
    assert (after / "a").read_bytes() == b"a"


def test_an_unsynced_rename_is_undone(fs):
    mount, mnt, after = fs
    with open(mnt / "tmp", "wb") as f:
        f.write(b"replacement")
        f.flush()
        os.fsync(f.fileno())
    os.replace(mnt / "tmp", mnt / "old.txt")
    assert (mnt / "old.txt").read_bytes() == b"replacement"
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"old content"
    assert not (after / "tmp").exists()


def test_a_synced_rename_is_kept(fs):
    mount, mnt, after = fs
    with open(mnt / "tmp", "wb") as f:
        f.write(b"replacement")
        f.flush()
        os.fsync(f.fileno())
    os.replace(mnt / "tmp", mnt / "old.txt")
    fsync_path(mnt)
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"replacement"


def test_an_unsynced_unlink_is_undone(fs):
    mount, mnt, after = fs
    os.unlink(mnt / "old.txt")
    mount.cut(after)
    assert (after / "old.txt").read_bytes() == b"old content"


@pytest.mark.slow
def test_nothing_works_after_the_cut(fs, tmp_path):
    mount, mnt, after = fs
    f = open(mnt / "old.txt", "r+b")
    mount.cut(after)
    with pytest.raises(OSError):
        f.write(b"x")
        f.flush()
    with pytest.raises(OSError):  # the mount is gone: even close's flush fails
        f.close()


def test_full_disk(fs):
    mount, mnt, after = fs
    mount.fault("enospc")
    with pytest.raises(OSError) as info:
        with open(mnt / "new", "wb") as f:
            f.write(b"x" * 100)
    assert info.value.errno == errno.ENOSPC
    with open(mnt / "old.txt", "r+b") as f:  # overwriting allocated bytes still works
        f.write(b"OLD")
    mount.fault(None)
    (mnt / "new").write_bytes(b"room again")
    assert (mnt / "new").read_bytes() == b"room again"


def test_failing_storage_and_read_only(fs):
    mount, mnt, after = fs
    mount.fault("eio", after=1)
    with open(mnt / "old.txt", "r+b", buffering=0) as f:
        f.write(b"1")  # the one write still allowed
        with pytest.raises(OSError) as info:
            f.write(b"2")
        assert info.value.errno == errno.EIO
        with pytest.raises(OSError):
            os.fsync(f.fileno())
    mount.fault("readonly")
    with pytest.raises(OSError) as info:
        (mnt / "other").write_bytes(b"x")
    assert info.value.errno == errno.EROFS
    assert (mnt / "old.txt").read_bytes().startswith(b"1")


@pytest.mark.slow
def test_sqlite_works_on_it_and_loses_only_what_was_not_synced(fs):
    mount, mnt, after = fs
    conn = sqlite3.connect(mnt / "x.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (v)")
    for value in range(20):
        conn.execute("INSERT INTO t VALUES (?)", (value,))
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("INSERT INTO t VALUES (999)")  # never synced
    fsync_path(mnt)
    mount.cut(after)
    conn.close()
    check = sqlite3.connect(after / "x.db")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    values = [row[0] for row in check.execute("SELECT v FROM t ORDER BY v")]
    assert values == list(range(20))


def test_an_armed_cut_stops_at_the_chosen_write(fs):
    """mount.trip(match, n): the power goes at the n-th write or fsync of a matching path
    (the harness aims cuts into a migration with it); what was synced before stays."""
    mount, mnt, after = fs
    mount.trip("target", 2)
    with open(mnt / "other", "wb", buffering=0) as f:  # not matching: never counts
        for _ in range(5):
            f.write(b"x")
    with open(mnt / "target", "wb", buffering=0) as f:
        f.write(b"one")  # write 0
        os.fsync(f.fileno())  # fsync 1: "one" is durable (the folder is not yet)
        with pytest.raises(OSError):
            f.write(b"two")  # write 2: the cut
    with pytest.raises(OSError):
        os.open(mnt, os.O_RDONLY)  # stopped: nothing answers any more
    mount.cut(after)
    assert not (after / "target").exists()  # its name was never synced into the folder
    assert (after / "old.txt").read_bytes() == b"old content"
