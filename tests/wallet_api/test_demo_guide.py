"""`make demo` as a newcomer meets it: start `wallet demo` for real, then run the curl commands
it prints, in order, and get what each one's comment promises; `wallet check` passes after.
A second start on the same database seeds nothing twice and prints fresh keys."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

WALLET = shutil.which("wallet", path=str(Path(sys.executable).parent)) or "wallet"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_demo(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    out = log.open("wb")
    proc = subprocess.Popen(
        [WALLET, "demo", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while "Application startup complete" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("wallet demo did not start:\n" + log.read_text())
        time.sleep(0.2)
    return proc, log.read_text()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _commands(guide: str) -> list[tuple[str, str]]:
    """(comment, shell command) for each step of the printed guide, continuations joined."""
    block = guide.split("Try it (in another terminal):", 1)[1].split("The app:", 1)[0]
    steps: list[tuple[str, str]] = []
    comment, current = "", ""
    for raw in block.splitlines():
        line = raw.strip()
        if re.match(r"^# \d+\w?\. ", line):
            comment = line  # a numbered step; "#   ..." lines only continue its text
            continue
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            steps.append((comment, current))
            current = ""
    return steps


ROLES = {
    "Case manager": "case_manager",
    "Providers": "provider",
    "Carers": "carer",
    "Clients": "client",
}


def _check_invite_links(guide: str, port: int) -> None:
    """Every printed invite link is on the demo's origin and opens an invite for the person
    and role it is printed under; a page on 127.0.0.1 moves to that origin."""
    group = ""
    seen: dict[str, str] = {}
    for line in guide.split("The app:", 1)[1].splitlines():
        if line.strip().rstrip(":") in ROLES:
            group = line.strip().rstrip(":")
            continue
        found = re.match(r"^\s+(.+?):\s+(\S+)/join#(\S+)$", line)
        if not found:
            continue
        name, origin, code = found.groups()
        assert origin == f"http://localhost:{port}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/invites/redeem/options",
            data=json.dumps({"code": code}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            invite = json.loads(r.read())["invite"]
        assert (invite["display_name"], invite["role"]) == (name, ROLES[group]), line
        seen[name] = group
    assert len(seen) == 9 and set(seen.values()) == set(ROLES), seen
    assert "Eino Korhonen" in seen  # the taxi's payment request goes to Eino
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/join")
    moved = conn.getresponse()
    assert moved.status == 307 and moved.getheader("location") == f"http://localhost:{port}/join"
    conn.close()


@pytest.mark.timeout(240)
def test_demo_guide_commands_work_as_printed(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}",
        "COLUMNS": "250",
        "WALLET_SCHEDULER": "false",
    }
    env.pop("WALLET_DEV_API_KEY_FORM", None)
    proc, guide = _start_demo(env, port, tmp_path / "demo1.log")
    try:
        # The guide says to paste a key into the app: the demo serves the API-key form.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/js/dev-key.js", timeout=10) as r:
            assert "export function devKeyForm" in r.read().decode()
        steps = _commands(guide)
        exports = {
            c.split("=", 1)[0]: c.split("=", 1)[1] for _, c in steps if re.match(r"^[A-Z]+=", c)
        }
        assert set(exports) == {"PROVIDER", "TAXI", "CLIENT"}
        shell_env = {**env, **exports}
        results: list[tuple[str, int, dict]] = []
        charge_id = None
        for comment, command in steps:
            if re.match(r"^[A-Z]+=", command):
                continue
            if command.startswith("wallet check"):
                done = subprocess.run(
                    [WALLET, "check"], env=env, capture_output=True, text=True, timeout=60
                )
                assert done.returncode == 0, done.stdout + done.stderr
                continue
            assert command.startswith("curl -s "), command
            if "<charge id>" in command:
                assert charge_id, "step 2 returned no charge id"
                command = command.replace("<charge id>", charge_id)
            # -w appends the status so each step's outcome is checked, not just its body.
            done = subprocess.run(
                ["bash", "-c", command + " -w '\\n%{http_code}'"],
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            body_text, status = done.stdout.rsplit("\n", 1)
            body = json.loads(body_text)
            results.append((comment, int(status), body))
            if "charges -H" in command and int(status) == 201 and charge_id is None:
                charge_id = body["id"]
        statuses = [(c.split(".")[0], s) for c, s, _ in results]
        assert statuses == [
            ("# 1", 200),
            ("# 2", 201),
            ("# 3", 422),
            ("# 3c", 201),
            ("# 3b", 202),
            ("# 4", 201),
            ("# 5", 200),
        ], statuses
        _check_invite_links(guide, port)
        by_step = {c.split(".")[0]: b for c, _, b in results}
        assert by_step["# 2"]["total_cents"] == 6800
        assert by_step["# 3"]["type"].endswith("insufficient-funds")
        voucher = by_step["# 3c"]
        assert (voucher["total_cents"], voucher["client_share_cents"]) == (3200, 600)
        assert by_step["# 4"]["amount_cents"] == 1700
        kinds = [item["kind"] for item in by_step["# 5"]["items"]]
        assert "charge" in kinds and "refund" in kinds
    finally:
        _stop(proc)

    # Again on the same database: nothing seeded twice, new keys that work.
    proc, guide = _start_demo(env, port, tmp_path / "demo2.log")
    try:
        assert "It already existed; new keys below." in guide
        steps = _commands(guide)
        command = next(c for _, c in steps if c.startswith("curl -s -H"))
        exports = {
            c.split("=", 1)[0]: c.split("=", 1)[1] for _, c in steps if re.match(r"^[A-Z]+=", c)
        }
        done = subprocess.run(
            ["bash", "-c", command], env={**env, **exports}, capture_output=True, text=True
        )
        wallet = json.loads(done.stdout)
        assert [e["label"] for e in wallet["envelopes"]] == [
            "Omaishoidon vapaat",
            "Kotiapu ja siivous",
        ]
    finally:
        _stop(proc)
