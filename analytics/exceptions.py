"""keyfunnel's own errors. Each carries a message a user can act on; none should surface as a traceback."""


class KeyfunnelError(Exception):
    """Base class: the CLI prints the message and exits 1."""


class StoreBusy(KeyfunnelError):
    """Another process holds the database's write lock."""


class StoreError(KeyfunnelError):
    """The database could not be opened or queried."""


class InputError(KeyfunnelError):
    """A file cannot be read as a CSV at all (missing, binary, undecodable, no header)."""


class UndoError(KeyfunnelError):
    """A batch cannot be undone (unknown, already undone, or later batches changed the same deals)."""
