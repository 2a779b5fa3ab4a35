#!/opt/hessra/bin/python
"""Kubernetes exec probe: gRPC health over mTLS (installed as ``hessra-grpc-health``).

The kubelet's built-in ``grpc:`` probe connects in plaintext (or, from Kubernetes 1.37,
TLS without a client certificate). The issuer and the signer serve gRPC only with
mutual TLS, so the built-in probe can never complete a handshake with them. This probe
presents a client certificate from the deploy-time probe CA (the service's
``server.extra_client_ca_file``) and calls ``grpc.health.v1.Health/Check``.

    hessra-grpc-health --addr 127.0.0.1:50051 --server-name hessra-issuer \\
        --ca /etc/hessra/tls/ca.crt --cert /etc/hessra/probe/tls.crt \\
        --key /etc/hessra/probe/tls.key [--service NAME] [--require-serving]

With ``--require-serving`` (readiness) only SERVING passes: the services report
NOT_SERVING until a policy snapshot is loaded. Without it (liveness) any answer passes,
so a pod waiting for policy-sync is not restarted. Exit codes: 0 healthy, 1 not serving,
2 usage or unreadable files, 3 no answer (connection, TLS or deadline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hessra-grpc-health", description=__doc__.split("\n")[0])
    p.add_argument("--addr", required=True, help="host:port of the gRPC server")
    p.add_argument("--ca", required=True, type=Path, help="CA that signed the server's cert")
    p.add_argument("--cert", required=True, type=Path, help="probe client certificate (PEM)")
    p.add_argument("--key", required=True, type=Path, help="probe client private key (PEM)")
    p.add_argument("--server-name", help="name to check the server certificate against")
    p.add_argument("--service", default="", help='health service name ("" = overall)')
    p.add_argument("--require-serving", action="store_true", help="fail unless SERVING")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        ca, cert, key = (path.read_bytes() for path in (args.ca, args.cert, args.key))
    except OSError as exc:
        print(f"hessra-grpc-health: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    options = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    with grpc.secure_channel(args.addr, credentials, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            print(f"hessra-grpc-health: {args.addr}: {exc.code().name}", file=sys.stderr)
            return 3
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.addr}: {status}")
    if args.require_serving and reply.status != health_pb2.HealthCheckResponse.SERVING:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
