"""This project's own Pulumi dynamic providers for MinIO, on the official MinIO Python SDK.

One module per MinIO kind. The provider classes are pickled *by reference* into every resource's state
(``providers.<module>.<Class>``), so these dotted paths are part of every stack: do not move or rename
them. The modules have no import-time side effects; credentials come from the stack config through
``configure`` and never enter the state.
"""
