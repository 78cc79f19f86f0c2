"""Private servers listen outside the kernel's ephemeral range and keep their port across a
restart (a chaos run lost its Redis for good: a client retrying `connect` to the stopped
server was given the server's own port as its local end, and the restarted Redis moved)."""

from __future__ import annotations

import socket

import pytest

from tests.support import devstack


def test_server_ports_are_below_the_ephemeral_range() -> None:
    low, high = devstack._ephemeral_ports()
    for _ in range(50):
        port = devstack.free_port()
        assert port >= 1024 and not low <= port <= high


def test_a_restart_waits_for_its_port_and_then_says_it_is_taken() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(devstack.StartupError, match=f"port {port} is taken"):
            devstack._same_port(port, "Redis", wait=0.3)
    assert devstack._same_port(port, "Redis", wait=5) == port
