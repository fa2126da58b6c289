"""Uploaded files on disk: a CRM export is customer data, so uploads are kept in a private folder beside the
database (0700, each file 0600), removed when their import ends, and any left by a stopped app removed at the next
start. The batch keeps each file's name and SHA-256."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from analytics.store.connection import resolve_db_path


def uploads_dir(db_path: str | os.PathLike | None = None) -> Path:
    """`.uploads` beside the database, created private (0700) if missing."""
    folder = resolve_db_path(db_path).parent / ".uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # mkdir's mode is masked by the umask
    return folder


def save_upload(folder: Path, name: str, data: bytes) -> Path:
    """The upload on disk, once per content (the Import page reruns on every mapping change), readable by this
    user alone."""
    holder = folder / hashlib.sha256(data).hexdigest()[:24]
    path = holder / Path(name).name
    if not path.exists():
        holder.mkdir(mode=0o700, exist_ok=True)
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        part.replace(path)
    return path


def remove_upload(path: Path) -> None:
    """Remove an upload and its folder (its import has ended)."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass  # another upload of the same content still there, or already gone


def clear_uploads(folder: Path) -> None:
    """Remove every upload: what a stopped app left behind."""
    for child in folder.iterdir():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
