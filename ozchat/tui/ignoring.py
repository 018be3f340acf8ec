"""/ignore: the people whose messages, actions, direct messages and typing are hidden.

A rule names a person. While they are online it holds their phone number (this connection of
theirs), so it follows them through a nickname change, and no one else who later takes the
nickname they left is hidden. A number is new on each connection, so the rule also keeps their
latest nickname: when they are not online, whoever comes online under it (as a rule, the same
person reconnecting) is taken for them, and so are messages replayed under it.

The nicknames are kept per hub and line in `<user data dir>/ignored/<host>_<port>/<line>.json`
(a JSON list of nicknames, 0600), so an ignored person stays ignored in the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import platformdirs

from ..chat_logs import FILE_MODE, hub_folder, make_private_folder, name_part
from ..events import RenumberedClient
from ..files import write_atomically
from ..protocol import ClientInfo, ClientStatus


def ignored_root() -> Path:
    return Path(platformdirs.user_data_dir("ozchat")) / "ignored"


def ignored_path(server: str, line: str) -> Path:
    return ignored_root() / hub_folder(server) / f"{name_part(line)}.json"


class IgnoreList:
    """The people ignored on a line (see the module's rule), and how many messages they had hidden in this run.

    With `path`, the nicknames are read from it and every change written back (folders from `root` 0700).
    """

    def __init__(self, path: Path | None = None, *, root: Path | None = None) -> None:
        self.path = path
        self.root = root if root is not None or path is None else path.parent
        self.hidden = 0
        self._names: dict[str, str] = {}  # each rule's nickname, by its folded form
        self._numbers: dict[str, str] = {}  # the number of someone online a rule stands for -> its folded nickname
        try:
            loaded = json.loads(path.read_bytes()) if path is not None else []
        except (OSError, ValueError):
            loaded = []  # none yet, or unreadable: the next change writes it afresh
        for name in loaded if isinstance(loaded, list) else []:
            if isinstance(name, str):
                self._names[name.casefold()] = name

    def hides(self, phone_number: str | None, name: str) -> bool:
        """Whether what the number (None: not known) sends under `name` is hidden: by the number while its person
        is online, else by the nickname."""
        return (phone_number is not None and phone_number in self._numbers) or name.casefold() in self._names

    def covers(self, info: ClientInfo) -> bool:
        """Whether someone on the line is ignored (their row in the sidebar is dimmed)."""
        return self.hides(info.phone_number, info.display_name)

    def names(self) -> list[str]:
        return sorted(self._names.values(), key=str.casefold)

    def add(self, name: str, phone_number: str | None = None) -> bool:
        """Ignore the person online with `phone_number` and nickname `name` (without a number: whoever comes under
        `name`); False if they were already. Raises OSError if the list cannot be kept."""
        folded = name.casefold()
        known = folded in self._names or phone_number in self._numbers
        if phone_number is not None:
            self._numbers.setdefault(phone_number, folded)
        if known:
            return False
        self._names[folded] = name
        self._save()
        return True

    def remove(self, name: str, phone_number: str | None = None) -> bool:
        """Stop ignoring the person with `phone_number`, or the nickname `name`; False if neither was ignored.
        Raises OSError if the list cannot be kept."""
        folded = self._numbers.get(phone_number or "", name.casefold())
        if self._names.pop(folded, None) is None:
            return False
        self._numbers = {number: rule for number, rule in self._numbers.items() if rule != folded}
        self._save()
        return True

    def saw(self, info: ClientInfo) -> None:
        """Someone's presence changed on the line: a rule follows its person to a new nickname or number, lets go
        of a number that left, and takes on whoever comes online under the nickname of a rule that holds no one."""
        if isinstance(info, RenumberedClient):  # the same person after a hub restart: the same rule
            rule = self._numbers.pop(info.previous_phone_number, None)
            if rule is not None:
                self._numbers[info.phone_number] = rule
        if info.status is ClientStatus.OFFLINE:
            self._numbers.pop(info.phone_number, None)
            return
        folded = info.display_name.casefold()
        rule = self._numbers.get(info.phone_number)
        if rule is None:
            if folded in self._names and folded not in self._numbers.values():
                self._numbers[info.phone_number] = folded
            return
        if rule != folded:  # a new nickname: the rule keeps the person, under the name they now use
            del self._names[rule]
            self._names[folded] = info.display_name
            self._numbers[info.phone_number] = folded
            with contextlib.suppress(OSError):  # kept for this run; the next change that can be saved writes it
                self._save()

    def forget_numbers(self) -> None:
        """The connection to the line ended: no one is known to be online; the rules stand by their nicknames."""
        self._numbers.clear()

    def _save(self) -> None:
        if self.path is None or self.root is None:
            return
        make_private_folder(self.path.parent, self.root)
        write_atomically(self.path, json.dumps(self.names()).encode())
        os.chmod(self.path, FILE_MODE)
