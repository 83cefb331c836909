"""B7: how soon each role's first screen shows its content on a phone (issue 22).

The demo county on a fresh SQLite database, served by the real ``wallet serve``; Lighthouse
12.8.2 (``pwa/lighthouse.sh`` installs it) with its mobile profile (simulated slow 4G and a 4x
slower CPU) and Debian's Chromium, signed in as each role with the demo's API keys (sent as a
header on every request). Three runs per screen; the median of each figure:

* the client's balances (``#/wallet``), the provider's charge form (``#/charge``), the case
  manager's client list (``#/clients``);
* ``content``: when the screen has drawn what it is for (the app's ``performance.mark``
  after the first view rendered: the balances, the charge form with its prices, the client
  list), and LCP, FCP, CLS and what was transferred. The goal is content ≤ 1.5 s.

Two ways to the server, each measured (``--via direct``, ``nginx`` or ``both``, the default):

* ``direct``: the browser talks to ``wallet serve`` over plain HTTP/1.1, at most six requests
  at a time, each paying the full round trip;
* ``nginx``: as deployed, through ``deploy/nginx/wallet.conf`` (TLS and HTTP/2: one
  connection, every request at once), the same nginx set-up ``tests/deploy/test_nginx.py`` runs
  on loopback, with a self-signed certificate the benchmark's Chromium is told to accept.

Run: ``.venv/bin/python -m bench.first_screen [--runs 3] [--via both]`` (or
``pwa/lighthouse-bench.sh``); ``--screen '#/charge'`` measures one screen (repeatable),
``--keep DIR`` keeps each run's Lighthouse report (its network records) and trace.
Lighthouse simulates the network and the CPU from a trace of the real load, so a busy machine
still moves the figures: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.server import REPO, Server, free_port

LIGHTHOUSE_DIR = Path(
    os.environ.get("LIGHTHOUSE_DIR", Path.home() / ".cache" / "wallet-lighthouse")
)
LIGHTHOUSE = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
SCREENS = (
    ("client's balances", "#/wallet", "client Aino"),
    ("provider's charge form", "#/charge", "provider (cleaning)"),
    ("case manager's clients", "#/clients", "case manager"),
)
AUDITS = {
    "lcp_ms": "largest-contentful-paint",
    "fcp_ms": "first-contentful-paint",
    "cls": "cumulative-layout-shift",
    "bytes": "total-byte-weight",
}


def install_lighthouse() -> None:
    if LIGHTHOUSE.exists():
        return
    LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "init", "-y"], cwd=LIGHTHOUSE_DIR, check=True, capture_output=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "lighthouse@12.8.2"],
        cwd=LIGHTHOUSE_DIR,
        check=True,
        capture_output=True,
    )


async def demo_keys(database_url: str) -> dict[str, str]:
    from payments.db import create_database
    from wallet_api.demo import seed_demo
    from wallet_api.migrate import upgrade

    db = create_database(database_url)
    try:
        await upgrade(db)
        guide = await seed_demo(db)
        return dict(guide.keys)
    finally:
        await db.dispose()


@contextlib.contextmanager
def behind_nginx(tmp: Path, upstream: int, https: int) -> Iterator[str]:
    """The shipped nginx site in front of ``upstream`` on loopback; yields its https URL."""
    from tests.deploy.test_nginx import nginx_conf, render, running_nginx, self_signed

    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    cert, key = self_signed(tmp)
    site = tmp / "wallet.conf"
    site.write_text(
        render(
            (REPO / "deploy" / "nginx" / "wallet.conf").read_text(),
            name="wallet_web",
            http=free_port(),
            https=https,
            upstreams=[upstream],
            cert=cert,
            key=key,
        )
    )
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(tmp, [site]))
    with running_nginx(binary, tmp, conf) as proc:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited; see {tmp / 'error.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", https)):
                break
            time.sleep(0.05)
        yield f"https://127.0.0.1:{https}"


def lighthouse(url: str, key: str, out: Path, trace: bool = False) -> dict[str, float]:
    # The benchmark's own self-signed certificate on loopback (the nginx phase) only.
    tls = " --ignore-certificate-errors" if url.startswith("https://127.0.0.1:") else ""
    done = subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            f"--extra-headers={json.dumps({'Authorization': f'Bearer {key}'})}",
            # The Finnish UI, as the county's people see it.
            f"--chrome-flags=--headless=new --no-sandbox --lang=fi-FI --accept-lang=fi-FI{tls}",
            "--only-categories=performance",
            "--form-factor=mobile",
            # Slow 4G and a 4x slower CPU applied to the real load (not simulated from an
            # unthrottled trace), so what the page itself measures (the "content" mark) counts.
            "--throttling-method=devtools",
            # The live-event stream never ends: without blocking it the page never goes idle.
            "--blocked-url-patterns",
            "*/api/events*",
            "--output=json",
            f"--output-path={out}",
            # With --keep, the trace too (what the main thread did, for DevTools).
            *(["--save-assets"] if trace else []),
        ],
        env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"lighthouse failed:\n{done.stderr[-2000:]}")
    audits = json.loads(out.read_text())["audits"]
    found = {name: float(audits[audit]["numericValue"]) for name, audit in AUDITS.items()}
    # The app marks "content" when the first screen has drawn what it is for (pwa/static/js/app.js).
    marks = [
        float(i["startTime"])
        for i in audits["user-timings"]["details"]["items"]
        if i.get("name") == "content"
    ]
    found["content_ms"] = marks[0] if marks else float("nan")
    return found


def measure(
    base: str,
    keys: dict[str, str],
    runs: int,
    tmp: Path,
    keep: Path | None = None,
    only: list[str] | None = None,
) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {}
    for name, path, who in [s for s in SCREENS if not only or s[1] in only]:
        for i in range(runs):
            # Lighthouse's own report of each run, kept with --keep (its network records).
            out = (keep or tmp) / f"lh-{path.strip('#/')}-{i}.json"
            found = lighthouse(f"{base}/{path}", keys[who], out, trace=keep is not None)
            results.setdefault(name, []).append(found)
    return results


def report(title: str, runs: int, results: dict[str, list[dict[str, float]]]) -> None:
    load = os.getloadavg()[0]
    print(f"\n{title}: median of {runs} runs, Lighthouse mobile profile (load {load:.2f}):")
    print(f"{'screen':26} {'content':>8} {'LCP':>8} {'FCP':>8} {'CLS':>6} {'KiB':>6}")
    for name, each_run in results.items():
        med: dict[str, Any] = {
            k: statistics.median(r[k] for r in each_run) for k in (*AUDITS, "content_ms")
        }
        each = ", ".join(f"{r['content_ms'] / 1000:.2f}" for r in each_run)
        print(
            f"{name:26} {med['content_ms'] / 1000:7.2f}s {med['lcp_ms'] / 1000:7.2f}s "
            f"{med['fcp_ms'] / 1000:7.2f}s {med['cls']:6.3f} {med['bytes'] / 1024:6.0f}"
            f"   (content runs: {each})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--via", choices=("direct", "nginx", "both"), default="both")
    parser.add_argument(
        "--keep", type=Path, help="a folder to keep Lighthouse's reports and traces in"
    )
    parser.add_argument(
        "--screen", action="append", choices=[s[1] for s in SCREENS], help="only these screens"
    )
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    install_lighthouse()
    print(json.dumps(machine_info()))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        url = f"sqlite+aiosqlite:///{tmp / 'wallet.sqlite3'}"
        keys = asyncio.run(demo_keys(url))
        if args.via in ("direct", "both"):
            server = Server(url, log_path=tmp / "server.log")
            # The origin the app redirects to: this very server.
            server.extra_env["WALLET_ORIGIN"] = server.base_url
            server.extra_env["WALLET_RP_ID"] = "127.0.0.1"
            with server:
                direct = measure(server.base_url, keys, args.runs, tmp, args.keep, args.screen)
            report("direct to wallet serve (HTTP/1.1)", args.runs, direct)
        if args.via in ("nginx", "both"):
            server = Server(url, log_path=tmp / "server.log")
            https = free_port()
            server.extra_env["WALLET_ORIGIN"] = f"https://127.0.0.1:{https}"
            server.extra_env["WALLET_RP_ID"] = "127.0.0.1"
            server.extra_env["WALLET_TRUSTED_PROXIES"] = "127.0.0.1"
            # The move to the origin stays on: nginx forwards the host with its port
            # (X-Forwarded-Host $http_host), so the origin's own pages are served.
            with server, behind_nginx(tmp, server.port, https) as base:
                proxied = measure(base, keys, args.runs, tmp, args.keep, args.screen)
            report("through nginx (TLS, HTTP/2)", args.runs, proxied)


if __name__ == "__main__":
    main()
