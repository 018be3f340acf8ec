"""The Textual chat UI over an OzWebClient."""

from .app import Join, OzChatApp

__all__ = ["Join", "OzChatApp"]
