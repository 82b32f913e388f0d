"""Test helpers by topic: media (ffmpeg clips, cutting, probing), servers (`screenrec serve`
subprocesses), clients (Socket.IO), backends (Redis, SeaweedFS and the store x storage matrix)
and node (the official socket.io-client). Fixtures live in `tests/conftest.py`."""
