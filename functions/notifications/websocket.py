"""Lambda entry point of the WebSocket API's routes ($connect, $disconnect, $default)."""

from gridshare.notifications.entries import websocket_handler as handler

__all__ = ["handler"]
