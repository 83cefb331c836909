#!/usr/bin/env bash
# B7: how soon the client's balances, the provider's charge form and the case manager's client
# list show their content on Lighthouse's mobile profile, median of 3 (bench/first_screen.py:
# its own demo county and server, measured directly over HTTP/1.1 and through the shipped nginx
# site over HTTP/2, `--via direct|nginx|both`; Lighthouse installed as pwa/lighthouse.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.first_screen "$@"
