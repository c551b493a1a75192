"""Transports by rpcx network name, behind one listen/dial contract (see :mod:`rpcx.transport.base`)."""

from .base import (
    TRANSPORTS,
    Address,
    ConnectionProtocol,
    ConnectionTransport,
    Listener,
    NetworkModule,
    dial,
    listen,
    cert_chain_of,
    parse_address,
    server_tls_context,
    takes_tls,
    tls_for,
    transport_for,
)

__all__ = [
    "TRANSPORTS",
    "Address",
    "ConnectionProtocol",
    "ConnectionTransport",
    "Listener",
    "NetworkModule",
    "dial",
    "listen",
    "cert_chain_of",
    "parse_address",
    "server_tls_context",
    "takes_tls",
    "tls_for",
    "transport_for",
]
