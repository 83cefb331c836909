#!/usr/bin/env bash
# Lighthouse (mobile) on the PWA with Debian's Chromium: performance, accessibility and
# best-practices scores, and the first load's transfer size.
#   pwa/lighthouse.sh http://127.0.0.1:8000/            # the sign-in screen (first load)
#   pwa/lighthouse.sh http://127.0.0.1:8000/#/wallet wk_...   # signed in with an API key
# Start the demo first (`make demo`); sign in as any role by its API key from the demo's guide.
# The Finnish UI is audited, and the never-ending live-event stream is blocked (else the page
# never goes idle). Lighthouse 12 is the last line that runs on Node 20; it is installed,
# pinned, into a cache folder outside the repository. How soon each role's first screen shows
# its content, median of 3: pwa/lighthouse-bench.sh (bench/first_screen.py).
set -euo pipefail
URL=${1:?usage: pwa/lighthouse.sh URL [API_KEY]}
KEY=${2:-}
DIR=${LIGHTHOUSE_DIR:-$HOME/.cache/wallet-lighthouse}
mkdir -p "$DIR"
if [ ! -x "$DIR/node_modules/.bin/lighthouse" ]; then
  (cd "$DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund lighthouse@12.8.2 >/dev/null)
fi
HEADERS='{}'
[ -n "$KEY" ] && HEADERS="{\"Authorization\":\"Bearer $KEY\"}"
OUT="$DIR/report.json"
CHROME_PATH=/usr/bin/chromium "$DIR/node_modules/.bin/lighthouse" "$URL" --quiet \
  --extra-headers="$HEADERS" \
  --chrome-flags="--headless=new --no-sandbox --lang=fi-FI --accept-lang=fi-FI" \
  --blocked-url-patterns "*/api/events*" \
  --only-categories=performance,accessibility,best-practices --form-factor=mobile \
  --output=json --output-path="$OUT"
python3 - "$OUT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for name, cat in r["categories"].items():
    print(f"{name:15} {round(cat['score'] * 100)}")
a = r["audits"]
for key in ("total-byte-weight", "first-contentful-paint", "largest-contentful-paint",
            "total-blocking-time", "cumulative-layout-shift"):
    print(f"{key:25} {a[key].get('displayValue')}")
PY
