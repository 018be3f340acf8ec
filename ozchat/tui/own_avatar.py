"""My own avatar as others load it: everyone's client fetches it under the same rules, so a
failure here is a failure for them too, and is told once."""

from __future__ import annotations

from ..avatars import AvatarError
from ..protocol import ClientInfo
from .avatar_board import AvatarBoard, plain_reason
from .messages import AvatarLoaded


class OwnAvatarWatch:
    """Says once per avatar URL that others cannot load mine."""

    def __init__(self, avatars: AvatarBoard) -> None:
        self._avatars = avatars
        self._told: set[str] = set()

    def _url(self, me: ClientInfo | None) -> str | None:
        value = me.get("avatar") if me is not None else None
        if not isinstance(value, str) or self._avatars.service is None:
            return None
        try:
            return self._avatars.service.resolve(value.strip())
        except AvatarError:
            return None

    def failure_text(self, me: ClientInfo | None, message: AvatarLoaded | None = None) -> str | None:
        """What to tell, if my avatar failed to load (in `message`, or before) and that was not told yet."""
        mine = self._url(me)
        if mine is None or mine in self._told:
            return None
        if message is None:
            error = self._avatars.failure(mine)  # loaded before it was mine: someone shares it, or it was mine before
        else:
            error = message.result.error if message.key.url == mine else None
        if error is None:
            return None
        self._told.add(mine)
        return f"others cannot load your avatar: {plain_reason(error)} ({error})"
