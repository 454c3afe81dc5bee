"""One writer at a time per bucket for a bucket's settings (policy, lifecycle, tags).

MinIO keeps a bucket's policy, lifecycle rules and tags in one metadata document; changes that reach
it at the same moment can be lost for good (seen on one node and more often on a distributed MinIO).
The engine runs providers in parallel threads of one process, so every such write takes this lock.
"""

from __future__ import annotations

import threading
from collections import defaultdict

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_guard = threading.Lock()


def bucket_settings_lock(bucket: str) -> threading.Lock:
    with _guard:
        return _locks[bucket]
