"""Which addresses the server may send requests to (``notifications.outbound``): public ones only.
The policy with real sockets on loopback is in ``tests/notifications/test_outbound_policy.py``."""

from __future__ import annotations

import ipaddress

import pytest

from notifications.outbound import address_refusal


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("168.63.129.16", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("240.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("2002:7f00:1::", False),
        ("2001::1", False),  # Teredo
    ],
)
def test_address_classification(address: str, allowed: bool) -> None:
    why = address_refusal(ipaddress.ip_address(address))
    assert (why is None) == allowed, why
