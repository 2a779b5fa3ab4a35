"""Verify Hessra tokens at a service's edge: ASGI (Starlette, FastAPI) and grpc.aio.

Import the one you need, so an HTTP service does not pull in gRPC and the other way round::

    from hessra.middleware.asgi import HessraMiddleware
    from hessra.middleware.grpc import HessraServerInterceptor, current_auth
"""
