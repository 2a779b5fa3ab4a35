"""``make demo``: the whole system on loopback, walked through step by step.

    .venv/bin/python deploy/local/demo.py [--out DIR] [--port-base N]

Generates the stack (``stack.py``), starts it with honcho (``runner.py``), waits for
gRPC health, runs the six steps of ``steps.py`` and stops every process, also on
Ctrl-C or a failure. Exit code 0 when every step passed; 1 naming the failed step
otherwise (2 for bad arguments). The services' output is in <out>/stack.log.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from runner import StackProcesses, check_ports_free
from stack import DEFAULT_OUT, Ports, StackError, generate
from steps import STEPS, State
from walkthrough import StepFailed, Walkthrough


def _banner(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def run_steps(w: Walkthrough) -> int:
    state = State()
    total = len(STEPS)
    for number, (title, step) in enumerate(STEPS, start=1):
        _banner(f"Step {number}/{total}: {title}")
        try:
            result = step(w, state)
        except StepFailed as exc:
            print(f"FAIL step {number} ({title}): {exc}", flush=True)
            return 1
        print(f"PASS step {number}: {result}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--port-base", type=int, help="first port (default $HESSRA_DEMO_PORT_BASE)")
    args = parser.parse_args(argv)

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    phase = "preparing the stack"
    try:
        ports = Ports(args.port_base) if args.port_base else Ports.from_env()
        # Before generating: regenerating the directory of a running stack would break it.
        check_ports_free(ports)
        stack = generate(args.out, ports)
        w = Walkthrough(stack)
        _banner("The stack")
        w.say(f"dev CA, certificates, keys and two policy git repositories in {w.rel(stack.root)}/")
        last = ports.base + len(ports.items()) - 1
        w.say(f"ports 127.0.0.1:{ports.base}..{last} (move them with HESSRA_DEMO_PORT_BASE)")
        w.say(f"the services' output goes to {w.rel(stack.root)}/stack.log")
        phase = "starting the stack"
        with StackProcesses(stack, stack.root / "stack.log") as processes:
            w.say("honcho started policy-sync x2, the issuer and signer x2; waiting on gRPC health")
            took = processes.wait_ready()
            w.say(f"all five services SERVING after {took:.1f}s")
            w.say(f"to use the CLI yourself: source {w.rel(stack.root)}/env.sh")
            phase = "the walkthrough"
            code = run_steps(w)
            if code == 0 and not processes.alive():
                print(f"FAIL: the stack stopped during the walkthrough:\n{processes.log_tail()}")
                code = 1
        if code:
            print(f"\ndemo: FAILED (see above; service logs in {w.rel(stack.root)}/stack.log)")
            return code
    except StackError as exc:
        print(f"FAIL {phase}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ndemo: interrupted during {phase}; every service stopped", file=sys.stderr)
        return 130
    print(f"\ndemo: all {len(STEPS)} steps passed in {time.monotonic() - started:.1f}s; "
          "every service stopped")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
