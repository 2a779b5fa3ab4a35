"""A small service in a service chain, run as its own OS process by the e2e tests.

    python chain_service.py --component fraud_detection --chain '[...]' --port-file p.json \\
        --issuer 127.0.0.1:50051 --cert c.crt --key c.key --ca ca.crt --personal-key k.pem

``POST /handle`` (aiohttp) with ``Authorization: Bearer <token>`` and ``x-subject``:
the service verifies the token as its component (every node before it must have
attested, in order), attests it with its own key, and forwards it to the first URL
in ``x-next-hops`` (comma-separated), passing the rest on. The last hop answers
``{"ok": true, "path": [...]}``. The first node (``--request-token``) asks the issuer
for a token itself when the request carries none. A refusal is ``403`` with
``{"error": reason, "message": ..., "at": component}``; a downstream refusal is passed
back unchanged. Everything goes through the ``hessra`` SDK.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from hessra import AsyncHessra, HessraError, ServiceChain

RESOURCE = "payment_processor"
OPERATION = "charge"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--component", required=True)
    p.add_argument("--chain", required=True, help="the whole chain as JSON")
    p.add_argument("--port-file", type=Path, required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--personal-key", required=True)
    p.add_argument("--request-token", action="store_true")
    return p.parse_args(argv)


class ChainService:
    def __init__(self, args: argparse.Namespace) -> None:
        self.component = args.component
        self.chain = ServiceChain.from_json(args.chain)
        self.request_token = args.request_token
        self.client = AsyncHessra(
            args.issuer,
            cert=args.cert,
            key=args.key,
            ca=args.ca,
            personal_keypair=args.personal_key,
        )
        self.http: aiohttp.ClientSession | None = None

    def refuse(self, exc: HessraError, status: int = 403) -> web.Response:
        body = {"error": exc.reason, "message": exc.message, "at": self.component}
        return web.json_response(body, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        subject = request.headers.get("x-subject", "")
        try:
            if not token and self.request_token:
                response = await self.client.request_token_full(RESOURCE, OPERATION)
                token, subject = response.token, response.subject
            self.client.verify_service_chain_token_local(
                token, subject, RESOURCE, OPERATION, self.chain, self.component
            )
            token = self.client.attest_service_chain_token(token, RESOURCE)
        except HessraError as exc:
            return self.refuse(exc)
        hops = [h for h in request.headers.get("x-next-hops", "").split(",") if h]
        if not hops:
            return web.json_response({"ok": True, "subject": subject, "at": self.component})
        assert self.http is not None
        headers = {
            "authorization": f"Bearer {token}",
            "x-subject": subject,
            "x-next-hops": ",".join(hops[1:]),
        }
        async with self.http.post(hops[0], headers=headers) as downstream:
            data: Any = await downstream.json()
            if downstream.status == 200:
                data["path"] = [self.component, *data.get("path", [data.get("at")])]
            return web.json_response(data, status=downstream.status)

    async def start(self, app: web.Application) -> None:
        await self.client.setup()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))

    async def stop(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()
        await self.client.close()


async def serve(args: argparse.Namespace) -> None:
    service = ChainService(args)
    app = web.Application()
    app.router.add_post("/handle", service.handle)
    app.on_startup.append(service.start)
    app.on_cleanup.append(service.stop)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": port}))
    tmp.rename(args.port_file)
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    import asyncio

    asyncio.run(serve(parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
