"""Backends for :class:`ddstream.Datastream`, as upstream's ``datastream.backends``: ddstream has
one, :mod:`ddstream.backends.store` (SQLite metadata + Parquet segments, local or on S3)."""
