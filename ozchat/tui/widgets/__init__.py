"""The chat screen's widgets, each with its own CSS."""

from .chat_log import ChatLog
from .composer import Composer
from .people_list import PeopleList
from .profile_card import ProfileCard
from .search_box import SearchBox
from .status_bar import StatusBar
from .typing_indicator import TypingIndicator

__all__ = ["ChatLog", "Composer", "PeopleList", "ProfileCard", "SearchBox", "StatusBar", "TypingIndicator"]
