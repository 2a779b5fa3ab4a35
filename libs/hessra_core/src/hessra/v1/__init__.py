"""Generated protobuf and gRPC stubs for package ``hessra.v1``.

Every ``*_pb2*.py`` and ``*_pb2*.pyi`` file here is produced by ``make proto``
from ``proto/hessra/v1``; never edit them by hand. ``make proto-check`` fails
when they are stale.
"""
