#!/bin/sh
# Refresh the vendored browser libraries from the pinned versions in package-lock.json.
# The app never loads anything from a CDN; run this after changing package.json, then commit
# pwa/static/vendor and tests/e2e/vendor.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
mkdir -p static/vendor ../tests/e2e/vendor
cp node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js static/vendor/simplewebauthn-browser.umd.min.js
cp node_modules/@simplewebauthn/browser/LICENSE.md static/vendor/simplewebauthn-browser.LICENSE.md
# qr-scanner: an ES module the charge screen imports only when the provider opens the camera
# (browsers without BarcodeDetector); it loads its worker from the same folder.
cp node_modules/qr-scanner/qr-scanner.min.js static/vendor/qr-scanner.min.js
cp node_modules/qr-scanner/qr-scanner-worker.min.js static/vendor/qr-scanner-worker.min.js
cp node_modules/qr-scanner/LICENSE static/vendor/qr-scanner.LICENSE
cp node_modules/axe-core/axe.min.js ../tests/e2e/vendor/axe.min.js
cp node_modules/axe-core/LICENSE ../tests/e2e/vendor/axe-core.LICENSE
node -e '
const lock = require("./package-lock.json").packages;
const v = (n) => lock["node_modules/" + n].version;
console.log("@simplewebauthn/browser " + v("@simplewebauthn/browser") + " -> static/vendor/simplewebauthn-browser.umd.min.js");
console.log("qr-scanner " + v("qr-scanner") + " -> static/vendor/qr-scanner.min.js, qr-scanner-worker.min.js");
console.log("axe-core " + v("axe-core") + " -> tests/e2e/vendor/axe.min.js");
' > static/vendor/VERSIONS.txt
cat static/vendor/VERSIONS.txt
