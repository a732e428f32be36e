"""gunicorn listens on IPv4 and, where the host has it, IPv6; it falls back to IPv4 alone."""

import runpy
import socket

import pytest

from churn.server.listen import DUAL_STACK, IPV4_ONLY, SEPARATE, ipv6_support, listen_addresses


@pytest.mark.parametrize(
    ("ipv6", "addresses"),
    [
        (DUAL_STACK, ["[::]:5000"]),  # one socket takes both (Linux, macOS)
        (SEPARATE, ["0.0.0.0:5000", "[::]:5000"]),  # an IPv6 socket takes IPv6 only
        (IPV4_ONLY, ["0.0.0.0:5000"]),
    ],
)
def test_listen_addresses_cover_ipv4_and_the_hosts_ipv6(ipv6, addresses):
    assert listen_addresses(5000, ipv6) == addresses


def test_a_host_without_ipv6_listens_on_ipv4_alone(monkeypatch):
    def no_ipv6(family=socket.AF_INET, *args, **kwargs):
        if family == socket.AF_INET6:
            raise OSError("Address family not supported by protocol")
        return real_socket(family, *args, **kwargs)

    real_socket = socket.socket
    monkeypatch.setattr(socket, "socket", no_ipv6)
    assert ipv6_support() == IPV4_ONLY


@pytest.mark.parametrize(("env", "port"), [({"PORT": "5000"}, "5000"), ({}, "9696")])
def test_gunicorn_config_listens_on_port_or_the_books_9696(project_dir, monkeypatch, env, port):
    monkeypatch.delenv("PORT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert runpy.run_path(str(project_dir / "gunicorn.conf.py"))["bind"] == listen_addresses(port)


@pytest.mark.skipif(ipv6_support() == IPV4_ONLY, reason="this host has no IPv6")
def test_the_service_answers_over_ipv6_and_ipv4(serve, free_port_for_ipv6):
    server = serve("gunicorn", args=["--bind", f"[::1]:{free_port_for_ipv6}"])
    assert server.get("/ping") == (200, b"PONG")  # IPv4: the fixture's own --bind 127.0.0.1
    with socket.create_connection(("::1", free_port_for_ipv6), timeout=5) as connection:
        connection.sendall(b"GET /ping HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
        assert connection.recv(1024).startswith(b"HTTP/1.1 200 OK")


@pytest.fixture
def free_port_for_ipv6():
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]
