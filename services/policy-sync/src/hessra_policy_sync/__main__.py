"""Entry point for `hessra-policy-sync`.

The service is wired up in its own issue; until then the command exists so the
package layout, console script and deploy contract can be tested.
"""

import sys


def main() -> int:
    print("hessra-policy-sync: this service is not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
