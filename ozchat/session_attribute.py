"""FromSession: a read-only attribute of a client that its `ClientSession` keeps."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, overload

T = TypeVar("T")


class _HasSession(Protocol):
    session: Any


class FromSession(Generic[T]):
    """A read-only attribute of the client that its session keeps."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type) -> FromSession[T]: ...
    @overload
    def __get__(self, client: _HasSession, owner: type | None = None) -> T: ...
    def __get__(self, client: _HasSession | None, owner: type | None = None) -> T | FromSession[T]:
        return self if client is None else getattr(client.session, self._name)
