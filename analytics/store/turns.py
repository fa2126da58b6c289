"""One database file shared by processes: writers take turns, readers never wait on them.

DuckDB lets one process write a file and no other process open it meanwhile, not even to read. So keyfunnel never
writes the database in place:

- a writer takes the file's turn, an flock on `<db>.lock` (the kernel releases it when the process ends, however
  it ends), and writes who it is into that file, so that a writer waiting its turn can say who holds it;
- it copies the database to `<db>.draft`, writes the copy (an import, an undo, a call, a migration), closes it
  (DuckDB checkpoints on close: no write-ahead log is left beside it) and renames it over the database: one atomic
  step. A writer stopped at any point, SIGKILL included, leaves the database as it was and a draft the next writer
  removes;
- a reader opens the file as it is, read-only: a snapshot. Its process keeps that file open while a writer replaces
  it, so a reader sees the data before a batch or after it, never a mix; its next snapshot sees the new file. Each
  snapshot is opened through a hard link of its own, removed at once: DuckDB keeps one instance per path in a
  process, and would otherwise hand a later reader the earlier file.

The cost is the copy: a writer copies the whole file (docs/performance.md measures it); no reader ever waits.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from analytics.exceptions import StoreBusy, StoreError
from analytics.messages import say
from analytics.store.cache import (
    forget_other_versions,
    last_refreshed_version,
    process_holds,
)
from analytics.store.connection import Store, resolve_db_path

DEFAULT_WAIT = 60.0  # seconds a writer waits for its turn before it says the database is busy
_POLL = 0.1
_STALE_LINK = 600  # seconds: a snapshot's link older than this was left by a process killed while it opened


@dataclass(frozen=True)
class Holder:
    """The process whose turn it is to write."""

    pid: int
    what: str  # "keyfunnel import", "the app's Import page"
    since: datetime
    host: str

    def describe(self) -> str:
        return f"{self.what} (pid {self.pid}, since {self.since:%H:%M:%S})"


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def draft_path(path: Path) -> Path:
    return path.with_name(path.name + ".draft")


def file_identity(path: str | os.PathLike) -> tuple | None:
    """What tells one version of the file from the next: a writer's rename gives a new inode."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def holder(path: str | os.PathLike | None = None) -> Holder | None:
    """Who is writing the database now, if anyone (a holder whose process has ended holds nothing)."""
    try:
        text = lock_path(resolve_db_path(path)).read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    if not data:
        return None
    found = Holder(int(data["pid"]), str(data["what"]), datetime.fromisoformat(data["since"]), str(data["host"]))
    return found if process_holds(found.pid, found.host) else None


WaitReport = Callable[[Holder | None, float], None]  # (who holds the turn, seconds waited so far)


@contextmanager
def write_turn(path: str | os.PathLike | None = None, *, what: str, wait: float = DEFAULT_WAIT,
               on_wait: WaitReport | None = None) -> Iterator[Path]:
    """Hold the database's turn to write: wait for it up to `wait` seconds (calling `on_wait` about once a
    second), else raise StoreBusy naming who holds it and what to do."""
    path = resolve_db_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start, reported = time.monotonic(), -1
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= wait:
                    current = holder(path)
                    raise StoreBusy(say("store_busy_writer", path=str(path), seconds=round(wait),
                                        holder=current.describe() if current else "another keyfunnel")) from None
                if on_wait is not None and int(waited) > reported:
                    reported = int(waited)
                    on_wait(holder(path), waited)
                time.sleep(_POLL)
        record = {"pid": os.getpid(), "what": what, "since": datetime.now().isoformat(timespec="seconds"),
                  "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def writing(path: str | os.PathLike | None = None, *, what: str, wait: float = DEFAULT_WAIT,
            on_wait: WaitReport | None = None) -> Iterator[Store]:
    """A read-write store on a draft of the database, in this process's turn; on leaving without an error the draft
    replaces the database, whole. An error (or a kill) leaves the database as it was."""
    with write_turn(path, what=what, wait=wait, on_wait=on_wait) as path:
        draft = draft_path(path)
        _remove_database(draft)  # a writer killed before its rename left it
        _remove_stale_links(path)
        if path.exists():
            if _wal(path).exists():  # written in place by a keyfunnel before this one, and not checkpointed
                Store(path).close()
            # a process writing the file in place (DuckDB itself, a keyfunnel before this one) would lose what it
            # writes after the copy: then it is busy, as DuckDB would say
            _snapshot(path).close()
            shutil.copyfile(path, draft)
        try:
            store = Store(draft)  # migrates the copy, if it must
        except BaseException:
            _remove_database(draft)
            raise
        store.path = path  # what messages and the results' file name
        previous = store.data_version()
        try:
            yield store
        except BaseException:
            store.close()
            _remove_database(draft)
            raise
        version = store.data_version()
        store.close()
        if _wal(draft).exists():
            _remove_database(draft)
            raise StoreError(say("store_failed", detail="the draft kept a write-ahead log"), str(path))
        _publish(draft, path)
        forget_other_versions(path, version, previous, last_refreshed_version(path) or previous)


def _publish(draft: Path, path: Path) -> None:
    with open(draft, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(draft, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def reading(path: str | os.PathLike | None = None, *, wait: float = DEFAULT_WAIT) -> Store:
    """A read-only snapshot of the database as it is now. A first run creates the empty database, and one written
    by an older keyfunnel is migrated first (both as a writer, in turn)."""
    path = resolve_db_path(path)
    if not path.exists():
        with writing(path, what="keyfunnel (creating the database)", wait=wait):
            pass
    store = _snapshot(path)
    if store.needs_migration():
        store.close()
        with writing(path, what="keyfunnel (migrating the database)", wait=wait):
            pass
        store = _snapshot(path)
    return store


def _snapshot(path: Path) -> Store:
    link = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.reading")
    try:
        os.link(path, link)
    except OSError:  # a file system without hard links: the path itself (this process's later snapshots may lag)
        link = None
    try:
        identity = file_identity(link or path)
        store = Store(link or path, read_only=True)
    except StoreBusy:  # a process that opened the file in place to write it (DuckDB itself, an older keyfunnel)
        raise StoreBusy(say("store_busy", path=str(path))) from None
    finally:
        if link is not None:
            link.unlink(missing_ok=True)
    store.path, store.identity = path, identity
    return store


def is_current(store: Store) -> bool:
    """Whether a snapshot still reads the database's current file (no writer has replaced it since)."""
    return getattr(store, "identity", None) == file_identity(store.path)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove_database(path: Path) -> None:
    for leftover in (path, _wal(path)):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".tmp"), ignore_errors=True)


def _remove_stale_links(path: Path) -> None:
    now = time.time()
    for link in path.parent.glob(f".{path.name}.*.reading"):
        with suppress(OSError):
            if now - link.lstat().st_ctime > _STALE_LINK:  # linking sets ctime; mtime is the data's
                link.unlink()
