"""Where gunicorn listens: on every IPv4 address and, where the host has IPv6, every IPv6 address.

As platform configurations do. Where one IPv6 socket on [::] also takes IPv4 connections (Linux
and macOS by default: "dual-stack"), it is the only one; where it would take IPv6 only, an IPv4
socket is added; where the host has no IPv6, IPv4 alone. Standard library only.
"""

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
