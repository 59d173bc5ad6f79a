"""A FUSE filesystem for tests that forgets what was not synced, like a disk after a power cut.

Held in memory (mfusepy on libfuse 3), run in its own process, steered from the test
through a pipe (:class:`ForgetfulMount`). The model, stricter than ext4's default but the
one POSIX promises:

* **Data.** ``write`` and ``truncate`` change what processes see at once, but a file's
  *durable* content is what it held at its last ``fsync``/``fdatasync`` (empty if never).
* **Names.** ``create``, ``mkdir``, ``rename``, ``link``, ``unlink`` and ``rmdir`` change
  the folder at once, but its *durable* entries are those at its last ``fsync`` of the
  folder itself. Fsyncing a file does not make its name durable (ext4 often does in
  practice; relying on it is the bug this finds).
* **Metadata** (mode, owner, times) is kept as is: not modelled.
* **Cut.** :meth:`ForgetfulMount.cut` stops every operation (EIO from then on), writes
  the durable state (folders reachable through durable entries, each file's durable
  content) to a real folder, and unmounts. That folder is the disk after the power cut.
* **Faults.** :meth:`ForgetfulMount.fault`: ``"enospc"`` (writes that grow a file, and
  new files, fail with ENOSPC: a full disk), ``"eio"`` (writes and fsyncs fail with EIO),
  ``"readonly"`` (every change fails with EROFS), ``None`` (healthy again); with
  ``after=N`` the fault starts at the N+1th write from now.

Start with :func:`mounted` (a context manager) or :class:`ForgetfulMount` directly; the
initial content is copied from a real folder (``seed``), all of it durable.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import stat
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Iterator

FAULTS = {"enospc": errno.ENOSPC, "eio": errno.EIO, "readonly": errno.EROFS}


@dataclass(eq=False)
class Node:
    mode: int
    data: bytearray = field(default_factory=bytearray)  # files: what processes see
    synced: bytes = b""  # files: what survives a cut
    entries: dict[str, "Node"] = field(default_factory=dict)  # folders: what processes see
    synced_entries: dict[str, "Node"] = field(default_factory=dict)  # folders: what survives
    target: str = ""  # symlinks
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    mtime: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def _now_ns() -> int:
    return time.time_ns()


def load_tree(folder: Path) -> Node:
    """A durable tree from a real folder (everything synced)."""
    st = folder.stat()
    root = Node(mode=stat.S_IFDIR | (st.st_mode & 0o7777), uid=st.st_uid, gid=st.st_gid, mtime=_now_ns())
    for child in sorted(folder.iterdir()):
        cst = child.lstat()
        if child.is_symlink():
            node = Node(mode=stat.S_IFLNK | 0o777, target=os.readlink(child), uid=cst.st_uid, gid=cst.st_gid)
        elif child.is_dir():
            node = load_tree(child)
        else:
            content = child.read_bytes()
            node = Node(mode=stat.S_IFREG | (cst.st_mode & 0o7777), data=bytearray(content), synced=content,
                        uid=cst.st_uid, gid=cst.st_gid, mtime=_now_ns())
        root.entries[child.name] = node
    root.synced_entries = dict(root.entries)
    return root


def dump_durable(node: Node, folder: Path) -> None:
    """Write what survives a cut under ``folder`` (which must not exist)."""
    folder.mkdir(mode=node.mode & 0o7777)
    for name, child in node.synced_entries.items():
        path = folder / name
        if child.is_dir:
            dump_durable(child, path)
        elif stat.S_ISLNK(child.mode):
            os.symlink(child.target, path)
        else:
            path.write_bytes(child.synced)
            os.chmod(path, child.mode & 0o7777)
    os.chmod(folder, node.mode & 0o7777)


class ForgetfulOps:
    """The mfusepy operations (path-based, file handles for open files)."""

    use_ns = True

    def __init__(self, root: Node) -> None:
        from mfusepy import FuseOSError

        self.Error = FuseOSError
        self.root = root
        self.mutex = threading.RLock()
        self.handles: dict[int, Node] = {}
        self.next_fh = 1
        self.stopped = False
        self.fault: int | None = None
        self.fault_after = 0  # writes still allowed before the fault starts
        self.counts = {"write": 0, "fsync": 0, "fsyncdir": 0, "rename": 0, "faulted": 0}
        self.trip_match: str | None = None  # a cut at the n-th write or fsync of a matching path
        self.trip_after = 0

    # -- helpers -------------------------------------------------------------------------

    def _check(self, modifying: bool = False) -> None:
        if self.stopped:
            raise self.Error(errno.EIO)
        if modifying and self.fault == errno.EROFS:
            self.counts["faulted"] += 1
            raise self.Error(errno.EROFS)

    def _lookup(self, path: str) -> Node:
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if not node.is_dir or part not in node.entries:
                raise self.Error(errno.ENOENT)
            node = node.entries[part]
        return node

    def _parent(self, path: str) -> tuple[Node, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        parent = self._lookup(head or "/")
        if not parent.is_dir:
            raise self.Error(errno.ENOTDIR)
        return parent, name

    def _node(self, path: str | None, fh: int | None) -> Node:
        if fh is not None and fh in self.handles:
            return self.handles[fh]
        if path is None:
            raise self.Error(errno.EBADF)
        return self._lookup(path)

    def _new_fh(self, node: Node) -> int:
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = node
        return fh

    def _trip(self, path: str | None) -> None:
        """The armed cut: at the chosen write or fsync of a path containing ``trip_match``
        the power goes (that operation and everything after it fail, nothing more is kept)."""
        if self.trip_match is None or path is None or self.trip_match not in path:
            return
        if self.trip_after > 0:
            self.trip_after -= 1
            return
        self.trip_match = None
        self.stopped = True
        raise self.Error(errno.EIO)

    def _write_fault(self, grows: bool) -> None:
        if self.fault is None:
            return
        if self.fault_after > 0:
            self.fault_after -= 1
            return
        if self.fault == errno.ENOSPC and not grows:
            return  # a full disk still overwrites allocated blocks
        self.counts["faulted"] += 1
        raise self.Error(self.fault)

    # -- metadata ------------------------------------------------------------------------

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        with self.mutex:
            self._check()
            node = self._node(path, fh)
            size = len(node.data) if stat.S_ISREG(node.mode) else (len(node.target) if stat.S_ISLNK(node.mode) else 4096)
            return {
                "st_mode": node.mode, "st_nlink": node.nlink if not node.is_dir else 2 + sum(c.is_dir for c in node.entries.values()),
                "st_size": size, "st_uid": node.uid, "st_gid": node.gid,
                "st_atime": node.mtime, "st_mtime": node.mtime, "st_ctime": node.mtime,
                "st_blocks": (size + 511) // 512, "st_blksize": 4096,
            }

    def access(self, path: str, amode: int) -> int:
        with self.mutex:
            self._check()
            self._lookup(path)
            return 0

    def statfs(self, path: str) -> dict[str, Any]:
        free = 0 if self.fault == errno.ENOSPC else 1 << 20
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 21, "f_bfree": free, "f_bavail": free,
                "f_files": 1 << 20, "f_ffree": 1 << 19, "f_favail": 1 << 19, "f_namemax": 255}

    def chmod(self, path: str, mode: int) -> int:
        with self.mutex:
            self._check(modifying=True)
            node = self._lookup(path)
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
            return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        with self.mutex:
            self._check(modifying=True)
            node = self._lookup(path)
            if uid != -1 and uid != 0xFFFFFFFF:
                node.uid = uid
            if gid != -1 and gid != 0xFFFFFFFF:
                node.gid = gid
            return 0

    def utimens(self, path: str, times: Any = None) -> int:
        with self.mutex:
            self._check(modifying=True)
            self._lookup(path).mtime = _now_ns()
            return 0

    def readlink(self, path: str) -> str:
        with self.mutex:
            self._check()
            return self._lookup(path).target

    # -- names ---------------------------------------------------------------------------

    def opendir(self, path: str) -> int:
        with self.mutex:
            self._check()
            return self._new_fh(self._lookup(path))

    def releasedir(self, path: str | None, fh: int) -> int:
        with self.mutex:
            self.handles.pop(fh, None)
            return 0

    def readdir(self, path: str | None, fh: int) -> list[str]:
        with self.mutex:
            self._check()
            node = self._node(path, fh)
            return [".", "..", *node.entries]

    def mkdir(self, path: str, mode: int) -> int:
        with self.mutex:
            self._check(modifying=True)
            self._write_fault(grows=True)
            parent, name = self._parent(path)
            if name in parent.entries:
                raise self.Error(errno.EEXIST)
            parent.entries[name] = Node(mode=stat.S_IFDIR | (mode & 0o7777), uid=os.getuid(), gid=os.getgid(), mtime=_now_ns())
            return 0

    def rmdir(self, path: str) -> int:
        with self.mutex:
            self._check(modifying=True)
            parent, name = self._parent(path)
            node = self._lookup(path)
            if not node.is_dir:
                raise self.Error(errno.ENOTDIR)
            if node.entries:
                raise self.Error(errno.ENOTEMPTY)
            del parent.entries[name]
            return 0

    def unlink(self, path: str) -> int:
        with self.mutex:
            self._check(modifying=True)
            parent, name = self._parent(path)
            node = self._lookup(path)
            if node.is_dir:
                raise self.Error(errno.EISDIR)
            del parent.entries[name]
            node.nlink -= 1
            return 0

    def rename(self, old: str, new: str) -> int:
        with self.mutex:
            self._check(modifying=True)
            self.counts["rename"] += 1
            old_parent, old_name = self._parent(old)
            node = self._lookup(old)
            new_parent, new_name = self._parent(new)
            existing = new_parent.entries.get(new_name)
            if existing is node:
                return 0
            if existing is not None and existing.is_dir:
                if not node.is_dir:
                    raise self.Error(errno.EISDIR)
                if existing.entries:
                    raise self.Error(errno.ENOTEMPTY)
            del old_parent.entries[old_name]
            new_parent.entries[new_name] = node
            return 0

    def link(self, target: str, source: str) -> int:
        """mfusepy passes (new name, existing file)."""
        with self.mutex:
            self._check(modifying=True)
            node = self._lookup(source)
            parent, name = self._parent(target)
            if name in parent.entries:
                raise self.Error(errno.EEXIST)
            parent.entries[name] = node
            node.nlink += 1
            return 0

    def symlink(self, target: str, source: str) -> int:
        with self.mutex:
            self._check(modifying=True)
            parent, name = self._parent(target)
            if name in parent.entries:
                raise self.Error(errno.EEXIST)
            parent.entries[name] = Node(mode=stat.S_IFLNK | 0o777, target=source, uid=os.getuid(), gid=os.getgid())
            return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        with self.mutex:
            self._check()
            node = self._node(path, fh)
            if self.fault == errno.EIO and self.fault_after <= 0:
                self.counts["faulted"] += 1
                raise self.Error(errno.EIO)
            node.synced_entries = dict(node.entries)
            self.counts["fsyncdir"] += 1
            return 0

    # -- files ---------------------------------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self.mutex:
            self._check(modifying=True)
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                self._write_fault(grows=True)
                node = Node(mode=stat.S_IFREG | (mode & 0o7777), uid=os.getuid(), gid=os.getgid(), mtime=_now_ns())
                parent.entries[name] = node
            return self._new_fh(node)

    def open(self, path: str, flags: int) -> int:
        with self.mutex:
            self._check(modifying=bool(flags & (os.O_WRONLY | os.O_RDWR)))
            node = self._lookup(path)
            if flags & os.O_TRUNC:
                node.data = bytearray()
            return self._new_fh(node)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        with self.mutex:
            self._check()
            return bytes(self._node(path, fh).data[offset:offset + size])

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        with self.mutex:
            self._check(modifying=True)
            self._trip(path)
            node = self._node(path, fh)
            self.counts["write"] += 1
            self._write_fault(grows=offset + len(data) > len(node.data))
            if offset > len(node.data):
                node.data.extend(b"\0" * (offset - len(node.data)))
            node.data[offset:offset + len(data)] = data
            node.mtime = _now_ns()
            return len(data)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        with self.mutex:
            self._check(modifying=True)
            node = self._node(path, fh)
            if length > len(node.data):
                self._write_fault(grows=True)
                node.data.extend(b"\0" * (length - len(node.data)))
            else:
                del node.data[length:]
            return 0

    def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
        with self.mutex:
            self._check(modifying=True)
            node = self._node(path, fh)
            if mode == 0 and offset + size > len(node.data):
                self._write_fault(grows=True)
                node.data.extend(b"\0" * (offset + size - len(node.data)))
            return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        with self.mutex:
            self._check()
            self._trip(path)
            node = self._node(path, fh)
            if self.fault == errno.EIO and self.fault_after <= 0:
                self.counts["faulted"] += 1
                raise self.Error(errno.EIO)
            node.synced = bytes(node.data)
            self.counts["fsync"] += 1
            return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0

    def release(self, path: str | None, fh: int) -> int:
        with self.mutex:
            self.handles.pop(fh, None)
            return 0


def _serve(seed: str, mountpoint: str, control: Connection) -> None:
    from mfusepy import FUSE, Operations

    class Ops(ForgetfulOps, Operations):  # type: ignore[misc]
        pass

    ops = Ops(load_tree(Path(seed)))

    def controller() -> None:
        while True:
            try:
                command, argument = control.recv()
            except EOFError:
                return
            with ops.mutex:
                if command == "cut":
                    ops.stopped = True
                    dump_durable(ops.root, Path(argument))
                    control.send(dict(ops.counts))
                elif command == "fault":
                    kind, after = argument
                    ops.fault = None if kind is None else FAULTS[kind]
                    ops.fault_after = after
                    control.send(True)
                elif command == "trip":
                    ops.trip_match, ops.trip_after = argument
                    control.send(True)
                elif command == "counts":
                    control.send(dict(ops.counts))
                elif command == "live":  # the state processes see now, for a clean unmount
                    dump_live(ops.root, Path(argument))
                    control.send(True)

    threading.Thread(target=controller, daemon=True).start()
    control.send("starting")
    FUSE(ops, mountpoint, foreground=True, nothreads=False, hard_remove=True, default_permissions=False,
         allow_other=os.getuid() == 0)


def dump_live(node: Node, folder: Path) -> None:
    folder.mkdir(mode=node.mode & 0o7777)
    for name, child in node.entries.items():
        path = folder / name
        if child.is_dir:
            dump_live(child, path)
        elif stat.S_ISLNK(child.mode):
            os.symlink(child.target, path)
        else:
            path.write_bytes(bytes(child.data))
            os.chmod(path, child.mode & 0o7777)


class ForgetfulMount:
    """The filesystem mounted at ``mountpoint``, its content first copied from ``seed``."""

    def __init__(self, seed: Path, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        mountpoint.mkdir(parents=True, exist_ok=True)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(str(seed), str(mountpoint), child), daemon=True)
        self._process.start()
        if self._conn.recv() != "starting":
            raise RuntimeError("the FUSE process did not start")
        deadline = time.monotonic() + 20
        while not os.path.ismount(mountpoint):
            if time.monotonic() > deadline or not self._process.is_alive():
                raise RuntimeError(f"{mountpoint} did not mount (is /dev/fuse there, fuse3 installed?)")
            time.sleep(0.02)
        self.mounted = True

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def fault(self, kind: str | None, after: int = 0) -> None:
        self._ask("fault", (kind, after))

    def counts(self) -> dict[str, int]:
        return dict(self._ask("counts"))

    def trip(self, match: str, after: int) -> None:
        """Arm a cut at the write or fsync number ``after`` (from 0) of a path containing
        ``match``: the filesystem stops there by itself (``cut()`` then collects what survived)."""
        self._ask("trip", (match, after))

    def cut(self, into: Path) -> dict[str, int]:
        """Power cut: everything not synced is gone; ``into`` receives what survived."""
        counts = dict(self._ask("cut", str(into)))
        self.unmount()
        return counts

    def unmount_keeping_live(self, into: Path) -> None:
        """A clean shutdown: ``into`` receives what processes saw (everything)."""
        self._ask("live", str(into))
        self.unmount()

    def unmount(self) -> None:
        if not self.mounted:
            return
        self.mounted = False
        subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True, timeout=30)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._conn.close()


def fuse_available() -> str:
    """'' when a forgetful mount can work here, else why not."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None:
        return "fusermount3 missing (Debian package fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as err:
        return f"mfusepy unusable: {err}"
    return ""


@contextmanager
def mounted(seed: Path, mountpoint: Path) -> Iterator[ForgetfulMount]:
    mount = ForgetfulMount(seed, mountpoint)
    try:
        yield mount
    finally:
        mount.unmount()
