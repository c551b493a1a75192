"""The rpcx server: services, dispatch, plugins, graceful shutdown."""

from .connection import ServerConnection
from .context import Context, current_context
from .plugins import PluginContainer
from .server import Server
from .service import rpc_method

__all__ = ["Context", "PluginContainer", "Server", "ServerConnection", "current_context", "rpc_method"]
