"""Where gunicorn listens: on every IPv4 address and, where the host has IPv6, every IPv6 address.

As platform configurations do. Where one IPv6 socket on [::] also takes IPv4 connections (Linux
and macOS by default: "dual-stack"), it is the only one; where it would take IPv6 only, an IPv4
socket is added; where the host has no IPv6, IPv4 alone. Standard library only.
"""

import errno
import socket

DUAL_STACK, SEPARATE, IPV4_ONLY = "dual-stack", "separate", "ipv4-only"


def listen_addresses(port, ipv6=None):
    """gunicorn bind addresses on all interfaces for `port`; `ipv6` is what ipv6_support() says."""
    ipv6 = ipv6 or ipv6_support()
    if ipv6 == DUAL_STACK:
        return [f"[::]:{port}"]
    if ipv6 == SEPARATE:
        return [f"0.0.0.0:{port}", f"[::]:{port}"]
    return [f"0.0.0.0:{port}"]


def ipv6_support():
    """DUAL_STACK, SEPARATE or IPV4_ONLY, by asking this host for an IPv6 socket on [::]."""
    if not socket.has_ipv6:
        return IPV4_ONLY
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            v6_only = probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            probe.bind(("::", 0))
    except OSError:
        return IPV4_ONLY
    return SEPARATE if v6_only else DUAL_STACK


def port_taken(where, option):
    """The one line for a port another server holds: `where` it was asked for, and the `option` that
    chose it besides PORT."""
    return (
        f"cannot listen on {where}: the port is taken (is another server running there?); "
        f"stop that one, or set PORT (or {option}) to a free port"
    )


def taken_address(addresses):
    """The first of gunicorn's bind addresses ((host, port) pairs; Unix sockets are left to gunicorn)
    that another socket holds, or None. gunicorn itself would retry each for 5 s, then fail in a line
    that does not say why."""
    for address in addresses:
        if isinstance(address, tuple) and _held(*address[:2]):
            host, port = address[:2]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return None


def _held(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False
