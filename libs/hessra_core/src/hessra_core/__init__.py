"""hessra_core: the engine shared by every Hessra process.

Keys, Biscuit tokens in Hessra's format, the policy model and compiled
snapshots, X.509 identities, and the one exception tree. No gRPC server, git or
network I/O lives here beyond what the ``rpc`` subpackage wires up.
"""
