"""``make up``: generate the local stack, run it in the foreground, print how to use it.

    .venv/bin/python deploy/local/up.py [--out DIR] [--port-base N]

Ctrl-C stops every service. The services' output goes to <out>/stack.log.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from runner import StackProcesses, check_ports_free
from stack import DEFAULT_OUT, GATEWAY, Ports, Stack, StackError, generate


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(stack: Stack, log_path: Path) -> str:
    """The endpoints and commands to try, with this stack's paths and ports."""
    p, d = stack.ports, _rel(stack.root)
    sync = "ours_sync_http"
    metrics = "http://127.0.0.1:{}/metrics".format
    chain = f"--chain-config {d}/repos/ours/work/resources.toml"
    lines = [
        "The local stack is running; Ctrl-C stops it.",
        f"Everything lives in {d}/; the services' logs: tail -f {_rel(log_path)}",
        "",
        f"Endpoints (127.0.0.1, gRPC over mTLS; CAs {d}/tls/ca.crt and partner-ca.crt):",
        f"  issuer                  {stack.address('issuer')}  metrics "
        f"{metrics(p['issuer_metrics'])}",
        f"  issuer, identity tokens {stack.address('issuer_identity')}  (server-auth TLS)",
        f"  legal_dept signer       {stack.address('legal_dept')}  metrics "
        f"{metrics(p['legal_dept_metrics'])}",
        f"  partner_company signer  {stack.address('partner_company')}  metrics "
        f"{metrics(p['partner_company_metrics'])}",
        f"  our policy-sync         gRPC {stack.address('ours_sync_grpc')}, "
        f"HTTP {stack.http(sync, '/status')} (/webhook/github, /metrics)",
        f"  partner policy-sync     gRPC {stack.address('partner_sync_grpc')}, "
        f"HTTP {stack.http('partner_sync_http', '/status')}",
        f"  policy repositories     {_rel(stack.ours.work)}, {_rel(stack.partner.work)}",
        f"  issuer public key       {stack.issuer_public_key}",
        "",
        "Try it from another terminal in the repository root:",
        f"  . .venv/bin/activate && source {d}/env.sh   # the CLI as api_gateway",
        "  hessra auth request --resource orders --operation read > token.txt",
        f"  hessra token verify --token - --subject {GATEWAY} \\",
        "      --resource orders --operation read < token.txt",
        "  hessra auth request --resource payment_processor --operation charge \\",
        f"    | hessra chain attest --token - --key-file {d}/keys/api_gateway.pem \\",
        "        --resource payment_processor \\",
        f"    | hessra chain verify --token - --subject {GATEWAY} \\",
        f"        --resource payment_processor --operation charge {chain} \\",
        "        --component fraud_detection",
        "  hessra auth request --resource sensitive_data --operation export \\",
        f"      --collect-signoffs --signer-ca partner_company={d}/tls/partner-ca.crt",
        f"  hessra identity request --cert {d}/tls/reporting.crt --key {d}/tls/reporting.key",
        f"  hessra policy validate --path {d}/repos/ours/work",
        f"  curl -s {stack.http(sync, '/status')}",
        "",
        f"Change the policy: edit {d}/repos/ours/work/clients.toml, then",
        f'  git -C {d}/repos/ours/work commit -am "grant ..."',
        f"  git -C {d}/repos/ours/work push origin HEAD:main",
        "policy-sync polls every 60 s; a GitHub webhook signed with the secret in",
        f"{d}/secrets/ours-github-webhook applies a push at once (`make demo` sends one).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--port-base", type=int, help="first port (default $HESSRA_DEMO_PORT_BASE)")
    args = parser.parse_args(argv)

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        ports = Ports(args.port_base) if args.port_base else Ports.from_env()
        # Before generating: regenerating the directory of a running stack would break it.
        check_ports_free(ports)
        print(f"generating the stack in {_rel(args.out.resolve())}/ ...", flush=True)
        stack = generate(args.out, ports)
        log_path = stack.root / "stack.log"
        with StackProcesses(stack, log_path) as processes:
            print("starting policy-sync x2, issuer, signer x2 with honcho ...", flush=True)
            took = processes.wait_ready()
            print(f"all services SERVING after {took:.1f}s", flush=True)
            print(describe(stack, log_path), flush=True)
            code = processes.wait()
            print(f"the stack stopped (honcho exit code {code}); see {_rel(log_path)}")
            print(processes.log_tail(2000))
            return 1
    except StackError as exc:
        print(f"make up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopped: every service is down")
        return 0


if __name__ == "__main__":
    sys.exit(main())
