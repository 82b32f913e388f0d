"""screenrec: a self-hosted screen-recording server (Socket.IO ingest, seekable WebM out)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
