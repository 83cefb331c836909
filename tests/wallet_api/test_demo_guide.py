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
    # The log line can come before the port answers (seen under pytest -n on a restart): wait
    # until /health does, so the guide's commands run against a listening server.
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("wallet demo is not answering:\n" + log.read_text()) from None
            time.sleep(0.2)
    return proc, log.read_text()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _steps(guide: str) -> list[tuple[str, str]]:
    """(comment, shell text) for each step of the printed guide, exactly as printed: the lines
    before the first numbered comment (the keys) are the first step; a step runs up to the
    next numbered comment."""
    block = guide.split("Try it (in another terminal):", 1)[1].split("The app:", 1)[0]
    steps: list[tuple[str, str]] = [("keys", "")]
    for raw in block.splitlines():
        line = raw.strip()
        if re.match(r"^# \d+\w?\. ", line):
            steps.append((line, ""))  # a numbered step; "#   ..." lines only continue its text
            continue
        if not line or line.startswith("#"):
            continue
        comment, text = steps[-1]
        steps[-1] = (comment, text + raw + "\n")
    return steps


def _run_guide(
    steps: list[tuple[str, str]], env: dict[str, str], cwd: Path
) -> dict[str, tuple[list[int], str, int]]:
    """Run the steps as printed, one after another in one shell (so what a step keeps in a
    variable is there for the next), as a newcomer pastes them. Each curl also writes its HTTP
    status to stderr (a shell function wraps curl; the printed text is unchanged) and ``wallet``
    is the installed command. Returns per step: (HTTP statuses, stdout, exit status)."""
    script = [
        'curl() { command curl -w "\\n%{stderr}%{http_code}\\n" "$@"; }',
    ]
    for n, (_, text) in enumerate(steps):
        script += [f'echo "@@{n}"; echo "@@{n}" >&2', text.rstrip("\n"), 'echo "@@rc $?" >&2']
    path = {**env, "PATH": f"{Path(WALLET).parent}{os.pathsep}{env.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=path,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    outs = re.split(r"^@@\d+\n", done.stdout, flags=re.M)[1:]
    errs = re.split(r"^@@\d+\n", done.stderr, flags=re.M)[1:]
    assert len(outs) == len(errs) == len(steps), done
    found: dict[str, tuple[list[int], str, int]] = {}
    for (comment, _), out, err in zip(steps, outs, errs, strict=True):
        codes = [int(x) for x in re.findall(r"^(\d{3})$", err, flags=re.M)]
        rc = int(re.findall(r"^@@rc (\d+)$", err, flags=re.M)[-1])
        found[comment.split(".")[0]] = (codes, out, rc)
    return found


def _json(out: str) -> dict:
    """The first JSON document a step printed."""
    return json.JSONDecoder().raw_decode(out.lstrip())[0]


def _push_key(port: int, key: str) -> str:
    """The Web Push public key the demo server hands to the app."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/push/key", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["public_key"])


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


def _sms_texts(listing: str) -> list[str]:
    return [m["message"] for m in json.loads(listing)]


def _check_sms(guide: str) -> None:
    """The printed SMS commands, as printed: step 3b's payment request reached the fake
    gateway for Eino, his reply (with the code from that text instead of 1234) approves it,
    and SALDO answers his balance."""
    block = guide.split("SMS goes to a fake gateway", 1)[1].split("Web Push is on", 1)[0]
    commands = [
        c.strip() for c in re.split(r"\n(?=  curl )", block.split("\n\n", 1)[1]) if c.strip()
    ]
    assert len(commands) == 3, commands

    def run(command: str) -> str:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done
        return done.stdout

    deadline = time.monotonic() + 20
    while not any("pyytää 25,00 €" in t for t in _sms_texts(run(commands[0]))):
        assert time.monotonic() < deadline, run(commands[0])
        time.sleep(0.2)
    request = next(t for t in _sms_texts(run(commands[0])) if "pyytää" in t)
    assert request.startswith("Taksi Hiltunen pyytää 25,00 €. Hyväksy: vastaa KYLLÄ "), request
    code = re.search(r"KYLLÄ (\d{4})", request)
    assert code
    assert json.loads(run(commands[1].replace("1234", code.group(1))))["status"] == 200
    assert json.loads(run(commands[2]))["status"] == 200
    while not any(t.startswith("Budjettia jäljellä") for t in _sms_texts(run(commands[0]))):
        assert time.monotonic() < deadline, run(commands[0])
        time.sleep(0.2)
    texts = _sms_texts(run(commands[0]))
    assert "Hyväksytty. Taksi Hiltunen saa 25,00 €." in texts, texts


@pytest.mark.timeout(300)
def test_demo_guide_commands_work_as_printed(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}",
        "COLUMNS": "250",
        "WALLET_SCHEDULER": "false",
    }
    for name in (
        "WALLET_DEV_API_KEY_FORM",
        "WALLET_VAPID_PRIVATE_KEY",
        "WALLET_VAPID_PUBLIC_KEY",
        "WALLET_SETTLEMENT_DEBTOR_IBAN",
        "WALLET_SETTLEMENT_DEBTOR_BIC",
    ):
        env.pop(name, None)
    proc, guide = _start_demo(env, port, tmp_path / "demo1.log")
    try:
        # The guide says to paste a key into the app: the demo serves the API-key form.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/js/dev-key.js", timeout=10) as r:
            assert "export function devKeyForm" in r.read().decode()
        steps = _steps(guide)
        exports = dict(line.split("=", 1) for line in steps[0][1].split())
        assert set(exports) == {"PROVIDER", "TAXI", "CLIENT"}
        first_push_key = _push_key(port, exports["CLIENT"])
        ran = _run_guide(steps, env, tmp_path)
        assert list(ran) == ["keys", "# 1", "# 2", "# 3", "# 3c", "# 3b", "# 4", "# 5", "# 6"]
        statuses = {step: codes for step, (codes, _, _) in ran.items()}
        assert statuses == {
            "keys": [],
            "# 1": [200],
            "# 2": [201],
            "# 3": [422],
            "# 3c": [201],
            "# 3b": [202],
            "# 4": [201],
            "# 5": [200],
            "# 6": [],
        }, statuses
        assert all(rc == 0 for _, _, rc in ran.values()), ran
        _check_invite_links(guide, port)
        _check_sms(guide)
        charge = _json(ran["# 2"][1])
        assert charge["total_cents"] == 6800
        assert _json(ran["# 3"][1])["type"].endswith("insufficient-funds")
        voucher = _json(ran["# 3c"][1])
        assert (voucher["total_cents"], voucher["client_share_cents"]) == (3200, 600)
        # The refund, as printed, refunds the charge of step 2.
        refund = _json(ran["# 4"][1])
        assert (refund["amount_cents"], refund["charge_id"]) == (1700, charge["id"])
        history, books = ran["# 5"][1], ran["# 5"][1]
        kinds = [item["kind"] for item in _json(history)["items"]]
        assert "charge" in kinds and "refund" in kinds
        assert "OK: the books balance." in books
        # The settlement pays every provider that charged, to its bank account, in pain.001.
        settled = ran["# 6"][1]
        assert "1 settled" in settled and "has no bank account" not in settled, settled
        (bank_file,) = (tmp_path / "demo-settlements").glob("*.pain001.xml")
        xml = bank_file.read_text()
        assert "FI8212345600001239" in xml  # the cleaner's account
        # The taxi's trip was approved by SMS after the settlement ran: paid in the next one.
        assert "FI5350001200005673" not in xml
        assert "FI8840550000007894" in xml  # the demo county pays
    finally:
        _stop(proc)

    # Again on the same database: nothing seeded twice, new keys that work.
    proc, guide = _start_demo(env, port, tmp_path / "demo2.log")
    try:
        assert "It already existed; new keys below." in guide
        steps = _steps(guide)
        exports = dict(line.split("=", 1) for line in steps[0][1].split())
        # The same Web Push keys: a phone subscribed before the restart still gets pushes.
        assert _push_key(port, exports["CLIENT"]) == first_push_key
        keys_file = tmp_path / "wallet-demo-vapid.json"
        assert f"Web Push is on: its keys are kept in {keys_file}" in guide
        assert json.loads(keys_file.read_text())["public_key"] == first_push_key
        assert keys_file.stat().st_mode & 0o077 == 0  # the private key is its owner's only
        command = steps[1][1].strip()
        assert command.startswith("curl -s -H")
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
