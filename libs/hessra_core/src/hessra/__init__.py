"""The Hessra Python SDK: what application developers import.

``hessra.v1`` holds the generated protobuf and gRPC stubs (package ``hessra.v1``).
"""
