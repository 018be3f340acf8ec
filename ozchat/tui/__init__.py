"""The Textual chat UI over an OzWebClient: `ozchat.tui.app.OzChatApp`.

Nothing is imported here, so the command line can read chat settings without loading Textual.
"""
