"""The Textual chat UI over an OzWebClient: `ozchat.tui.app.OzChatApp`.

Nothing is imported here, so importing a module of this package loads only what that module needs.
"""
