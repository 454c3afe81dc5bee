"""Helpers that run the real thing: the pinned tools, a MinIO on loopback, the Pulumi CLI offline.

Shared by ``make local-*`` and the end-to-end tests, so the tests exercise exactly what users run.
"""
