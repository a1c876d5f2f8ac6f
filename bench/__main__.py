"""`python -m bench`: the benchmark suite against a local Keycloak; `python -m bench readme`: README's tables."""

import sys

from bench.cli import main

raise SystemExit(main(sys.argv[1:]))
