"""Issuer mint throughput over mTLS, against a bare echo servicer on the same server stack.

For 1 and 2 worker processes (sharing one port with SO_REUSEPORT) this runs, in one
go and on the same machine:

- ``echo``: the production server stack (``hessra_core.rpc.start_server``, live
  mTLS credentials, the observability interceptor writing its log line) with an
  ``Issuer`` servicer whose RequestToken returns a canned response: the baseline;
- ``mint``: the real ``IssuerApp`` (certificate check, policy decision, Biscuit
  minting with an Ed25519 key);
- ``floor`` (with ``--floor``): the echo stack again, but RequestToken builds the
  same token with bare ``biscuit_auth`` calls and nothing else (no authentication,
  no decision). floor/echo is the most any issuer on this stack could reach; the
  gap between it and mint/echo is what the issuer itself adds.

The load generator is a separate process (grpc.aio, many connections, a fixed
number of calls in flight). Printed per run: peak throughput (closed loop), server
CPU-microseconds per request (utime+stime of the worker processes from
/proc/<pid>/stat), and p50/p99 latency at 50% of the peak (open loop). Then the
ratios: mint/echo throughput, and mint CPU per token with 2 workers vs 1.

Bounded: a few seconds per run, about a minute in all. ``--quick`` halves it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONCURRENCY = 32
CONNECTIONS = 8
REQUEST = ("orders", "read")


# ----------------------------------------------------------------------------- set-up


@dataclass(frozen=True)
class Material:
    root: Path
    ca_pem: bytes
    client_cert: bytes
    client_key: bytes


def make_material(root: Path) -> Material:
    import tomli_w

    from hessra_core import pki
    from hessra_core.keys import KeyPair

    ca = pki.create_ca("bench CA")
    server = pki.issue_cert(
        ca, "issuer", pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]), server=True
    )
    client = pki.issue_cert(ca, "gateway", pki.SubjectNames(uris=["urn:bench:gateway"]))
    (root / "server.crt").write_bytes(server.cert_pem)
    (root / "server.key").write_bytes(server.key_pem)
    KeyPair.generate().save(root / "signing.pem")
    policy = root / "policy"
    policy.mkdir()
    (policy / "clients.toml").write_text(
        tomli_w.dumps(
            {
                "version": "0.2.0",
                "cacerts": {"cert_chain": ca.cert_pem.decode()},
                "clients": [
                    {
                        "identifier": {"type": "san_uri", "value": "uri:urn:bench:gateway"},
                        "resources": [{"name": "orders", "operations": ["read"]}],
                    }
                ],
            }
        )
    )
    (policy / "resources.toml").write_text(
        tomli_w.dumps({"version": "0.2.0", "resources": {"orders": {}}})
    )
    return Material(root, ca.cert_pem, client.cert_pem, client.key_pem)


def issuer_config(material: Material, port: int) -> Any:
    from hessra_issuer.config import IssuerConfig

    return IssuerConfig(
        cert_file=material.root / "server.crt",
        key_file=material.root / "server.key",
        signing_key_files=(material.root / "signing.pem",),
        listen=f"127.0.0.1:{port}",
        policy_dir=material.root / "policy",
        policy_poll_interval=60.0,
        shutdown_grace=0.2,
    )


# ----------------------------------------------------------------------------- workers


def _quiet_logs() -> None:
    # The log line is still rendered (it is part of the per-request cost), just not kept.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    from hessra_core.rpc import configure_logging

    configure_logging("info", json=True)


def _floor_servicer(key_file: Path) -> Any:
    """RequestToken = the raw biscuit_auth calls for a Hessra token with a fixed subject."""
    import biscuit_auth

    from hessra.v1 import issuer_pb2, issuer_pb2_grpc
    from hessra_core.keys import KeyPair
    from hessra_core.tokens import _authority as src

    private = KeyPair.load(key_file).biscuit_private_key()
    subject = "uri:urn:bench:gateway"
    right_check = biscuit_auth.Check(src.AUTHZ_RIGHT_CHECK)
    revision = biscuit_auth.Fact(src.POLICY_REVISION, {"revision": "dir:/bench"})

    class Floor(issuer_pb2_grpc.IssuerServicer):
        async def RequestToken(self, request: Any, context: Any) -> Any:
            builder = biscuit_auth.BiscuitBuilder()
            builder.add_fact(
                biscuit_auth.Fact(
                    src.AUTHZ_RIGHT,
                    {
                        "subject": subject,
                        "resource": request.resource,
                        "operation": request.operation,
                    },
                )
            )
            builder.add_check(right_check)
            expiry = {"expiration": int(time.time()) + 300}
            builder.add_check(biscuit_auth.Check(src.AUTHZ_EXPIRY_CHECK, expiry))
            builder.add_fact(revision)
            token = builder.build(private).to_base64()
            return issuer_pb2.RequestTokenResponse(
                token=token, subject=subject, policy_revision="dir:/bench"
            )

    return Floor()


async def _serve_echo(config: Any, ready: Any, ca: bytes, signing_key: Path | None) -> None:
    from hessra.v1 import issuer_pb2, issuer_pb2_grpc
    from hessra_core.rpc import (
        DynamicServerCredentials,
        Listener,
        ObservabilityInterceptor,
        serve_until_signalled,
        start_server,
    )
    from hessra_issuer.app import ISSUER_SERVICE, WORKER_PID_METADATA

    canned = issuer_pb2.RequestTokenResponse(
        token="E" * 420, subject="uri:urn:bench:gateway", policy_revision="dir:/bench"
    )

    class Echo(issuer_pb2_grpc.IssuerServicer):
        async def RequestToken(self, request: Any, context: Any) -> Any:
            return canned

    servicer = Echo() if signing_key is None else _floor_servicer(signing_key)
    creds = DynamicServerCredentials(config.cert_file, config.key_file, client_ca=lambda: ca)
    running = await start_server(
        listeners=[Listener(config.listen, creds.server_credentials())],
        services=[(issuer_pb2_grpc.add_IssuerServicer_to_server, servicer)],
        service_names=[ISSUER_SERVICE],
        interceptors=[
            ObservabilityInterceptor(trailing_metadata=[(WORKER_PID_METADATA, str(os.getpid()))])
        ],
        serving=True,
    )
    ready.put(os.getpid())
    await serve_until_signalled(running, grace=0.2)


async def _serve_mint(config: Any, ready: Any) -> None:
    from hessra_core.rpc import serve_until_signalled
    from hessra_issuer.app import IssuerApp

    app = IssuerApp(config)
    await app.start()
    ready.put(os.getpid())
    assert app.running is not None
    await serve_until_signalled(app.running, grace=0.2)


@dataclass(frozen=True)
class EchoConfig:
    cert_file: Path
    key_file: Path
    listen: str
    root_ca: Path


def worker(kind: str, config: Any, ready: Any) -> None:
    _quiet_logs()
    if kind in ("echo", "floor"):
        key = Path(config.root_ca).parent / "signing.pem" if kind == "floor" else None
        asyncio.run(_serve_echo(config, ready, Path(config.root_ca).read_bytes(), key))
    else:
        asyncio.run(_serve_mint(config, ready))


# ----------------------------------------------------------------------------- load


def client_main(port: int, material: Material, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_client(port, material, seconds)))


async def _client(port: int, material: Material, seconds: float) -> dict[str, Any]:
    import grpc
    import grpc.aio

    from hessra.v1 import issuer_pb2, issuer_pb2_grpc

    creds = grpc.ssl_channel_credentials(material.ca_pem, material.client_key, material.client_cert)
    options = [
        ("grpc.ssl_target_name_override", "localhost"),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    channels = [
        grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=options)
        for _ in range(CONNECTIONS)
    ]
    stubs = [issuer_pb2_grpc.IssuerStub(ch) for ch in channels]
    request = issuer_pb2.RequestTokenRequest(resource=REQUEST[0], operation=REQUEST[1])
    errors = 0
    calls = 0

    async def one(i: int) -> float:
        nonlocal errors, calls
        calls += 1
        start = time.perf_counter()
        try:
            await stubs[i % CONNECTIONS].RequestToken(request, timeout=10)
        except grpc.aio.AioRpcError:
            errors += 1
        return time.perf_counter() - start

    # Warm up every connection.
    await asyncio.gather(*(one(i) for i in range(CONNECTIONS * 4)))
    errors = 0
    closed_for = seconds

    count = 0

    async def loop(i: int, until: float) -> None:
        nonlocal count
        while time.perf_counter() < until:
            await one(i)
            count += 1

    out: dict[str, Any] = {}
    until = time.perf_counter() + closed_for
    started = time.perf_counter()
    await asyncio.gather(*(loop(i, until) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    out["peak_rps"] = count / elapsed
    out["peak_count"] = count
    out["closed_elapsed"] = elapsed

    # Open loop at half the peak rate: latency without queueing at saturation.
    rate = max(1.0, out["peak_rps"] * 0.5)
    total = int(rate * seconds * 0.6)
    latencies: list[float] = []
    tasks = []
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i)))
    latencies = sorted(await asyncio.gather(*tasks))
    out["p50_ms"] = latencies[len(latencies) // 2] * 1000
    out["p99_ms"] = latencies[int(len(latencies) * 0.99) - 1] * 1000
    out["errors"] = errors
    out["calls"] = calls
    for ch in channels:
        await ch.close()
    return out


# ----------------------------------------------------------------------------- driver


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_case(kind: str, workers: int, material: Material, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    config: Any
    if kind in ("echo", "floor"):
        (material.root / "ca.pem").write_bytes(material.ca_pem)
        config = EchoConfig(
            material.root / "server.crt",
            material.root / "server.key",
            f"127.0.0.1:{port}",
            material.root / "ca.pem",
        )
    else:
        config = issuer_config(material, port)
    ready = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(kind, config, ready)) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        pids = [ready.get(timeout=60) for _ in procs]
        out = ctx.Queue()
        client = ctx.Process(target=client_main, args=(port, material, seconds, out))
        # Worker CPU is sampled around the whole client run and divided by every call made.
        before = cpu_ticks(pids)
        client.start()
        result: dict[str, Any] = out.get(timeout=seconds * 4 + 60)
        after = cpu_ticks(pids)
        client.join(10)
        hz = os.sysconf("SC_CLK_TCK")
        result["cpu_us_per_req"] = (after - before) / hz * 1e6 / max(1, result["calls"])
        result["pids"] = pids
        return result
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="closed-loop seconds per run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best is kept")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the bare-biscuit_auth servicer: the ceiling for mint/echo on this stack",
    )
    args = parser.parse_args()
    seconds = args.seconds / 2 if args.quick else args.seconds
    started = time.perf_counter()
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hessra-bench-") as tmp:
        material = make_material(Path(tmp))
        # Cases alternate and repeat so a burst of noise on this shared machine
        # (other processes, the load generator itself) does not decide a ratio.
        for rep in range(max(1, args.repeat)):
            for workers in (1, 2):
                for kind in ("echo", "mint", "floor") if args.floor else ("echo", "mint"):
                    r = run_case(kind, workers, material, seconds)
                    best = results.get((kind, workers))
                    if best is None or r["peak_rps"] > best["peak_rps"]:
                        results[(kind, workers)] = r
                    print(f"[run {rep + 1}] ", end="")
                    print(
                        f"{kind:5} workers={workers}: {r['peak_rps']:8.0f} req/s peak, "
                        f"{r['cpu_us_per_req']:7.0f} server CPU-us/req, "
                        f"p50 {r['p50_ms']:6.2f} ms, p99 {r['p99_ms']:6.2f} ms at 50% load, "
                        f"errors {r['errors']}",
                        flush=True,
                    )
    print()
    for workers in (1, 2):
        ratio = results[("mint", workers)]["peak_rps"] / results[("echo", workers)]["peak_rps"]
        verdict = "ok" if ratio >= 0.7 else "BELOW 0.7x target"
        by_cpu = (
            results[("echo", workers)]["cpu_us_per_req"]
            / results[("mint", workers)]["cpu_us_per_req"]
        )
        print(
            f"mint/echo throughput, {workers} worker(s): {ratio:.2f}x ({verdict}); "
            f"by server CPU per request: {by_cpu:.2f}x"
        )
        if ("floor", workers) in results:
            floor = results[("floor", workers)]
            print(
                f"  floor/echo (bare biscuit_auth build), {workers} worker(s): "
                f"{floor['peak_rps'] / results[('echo', workers)]['peak_rps']:.2f}x; "
                f"by server CPU per request: "
                f"{results[('echo', workers)]['cpu_us_per_req'] / floor['cpu_us_per_req']:.2f}x"
            )
    cpu1 = results[("mint", 1)]["cpu_us_per_req"]
    cpu2 = results[("mint", 2)]["cpu_us_per_req"]
    drift = cpu2 / cpu1 - 1
    verdict = "ok" if abs(drift) <= 0.15 else "OUTSIDE 15% target"
    print(
        f"mint CPU-us per token, 2 workers vs 1: {cpu2:.0f} vs {cpu1:.0f} ({drift:+.0%}, {verdict})"
    )
    scale = results[("mint", 2)]["peak_rps"] / results[("mint", 1)]["peak_rps"]
    print(f"mint throughput, 2 workers vs 1: {scale:.2f}x (client shares the 2 cores)")
    print(f"total {time.perf_counter() - started:.0f} s")
    errors = sum(r["errors"] for r in results.values())
    return 1 if errors else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
