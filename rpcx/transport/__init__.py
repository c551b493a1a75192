"""Transports by rpcx network name, behind one listen/dial interface."""

from .base import TRANSPORTS, Address, Listener, dial, listen, parse_address, transport_for

__all__ = ["TRANSPORTS", "Address", "Listener", "dial", "listen", "parse_address", "transport_for"]
