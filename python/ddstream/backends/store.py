"""The store backend: ``Datastream(store.Backend(location))`` as upstream's
``Datastream(mongodb.Backend(database_name))``."""

from __future__ import annotations

import os


class Backend:
    """Where a store lives: a directory (created if needed), or ``s3://bucket/prefix`` with
    ``meta_dir`` a local directory for its SQLite metadata (credentials from ``AWS_*``)."""

    def __init__(self, location: str | os.PathLike[str], meta_dir: str | None = None) -> None:
        self.location = os.fspath(location)
        self.meta_dir = meta_dir

    def __repr__(self) -> str:
        return f"ddstream.backends.store.Backend({self.location!r})"
