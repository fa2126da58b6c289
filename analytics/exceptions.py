"""keyfunnel's own errors. Each carries the file it is about (when there is one) and a Message (a code and its
parameters), and its text is built from them: "FILE: reason" in English, in Chinese through
analytics.i18n.issues. None should surface as a traceback."""

from __future__ import annotations

from analytics.messages import Message


class KeyfunnelError(Exception):
    """Base class: the CLI prints the text and exits 1. `message` is a Message, or plain English for an error only
    the CLI meets (its own arguments)."""

    def __init__(self, message: Message | str, file: str | None = None):
        self.message = message
        self.file = file
        super().__init__(f"{file}: {message}" if file else str(message))

    @property
    def code(self) -> str | None:
        return self.message.code if isinstance(self.message, Message) else None


class StoreBusy(KeyfunnelError):
    """Another process holds the database's write lock."""


class StoreError(KeyfunnelError):
    """The database could not be opened or queried."""


class InputError(KeyfunnelError):
    """A file cannot be read as a CSV at all (missing, binary, undecodable, no header)."""


class UndoError(KeyfunnelError):
    """A batch cannot be undone (unknown, already undone, or later batches changed the same deals)."""
