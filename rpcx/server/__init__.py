"""The rpcx server: services, dispatch, plugins, graceful shutdown."""

from .connection import ServerConnection
from .context import Context, current_context
from .filetransfer import FileTransfer, save_to_directory, serve_from_directory
from .plugins import PluginContainer
from .server import Server
from .service import rpc_method
from .stream import StreamService

__all__ = ["Context", "PluginContainer", "Server", "ServerConnection", "current_context", "rpc_method",
           "FileTransfer", "StreamService", "save_to_directory", "serve_from_directory"]
