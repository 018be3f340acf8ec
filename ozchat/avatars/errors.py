"""Why an avatar could not be had: one error type with a stable code a UI can show."""

from __future__ import annotations

from enum import Enum

from ..exceptions import OzchatError


class AvatarErrorCode(str, Enum):
    """Stable codes of avatar failures; the hub uses the same ones to refuse uploads."""

    BAD_URL = "bad_url"
    REFUSED_ADDRESS = "refused_address"
    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    CONNECTION_FAILED = "connection_failed"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"
    UPLOAD_TOO_LARGE = "upload_too_large"


class AvatarError(OzchatError):
    """An avatar could not be fetched, decoded or accepted; `code` says why.

    `status` is the HTTP status when `code` is ``HTTP_STATUS``.
    """

    def __init__(self, code: AvatarErrorCode, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def copy(self) -> AvatarError:
        """A fresh error with the same reason, to raise again without growing a traceback."""
        return type(self)(self.code, self.message, status=self.status)
