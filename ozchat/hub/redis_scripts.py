"""What hubs that share lines keep in Redis: the Lua scripts that write it, and the records they read.

No I/O here: `backplane.py` runs the scripts. Keys, under `ozchat:`: `hubs` (the set of hub ids),
`hub:ID` (a hub's heartbeat, with a TTL), `hub:ID:clients` (its members, as JSON [line, phone]),
`line:NAME:roster` (a hash: phone number -> member record), `line:NAME:numbers` (a hash: phone
number -> the hub holding it, see redis_numbers.py), `line:NAME:nicknames` (who holds each
nickname's look-alike keys, see redis_nicknames.py), `line:NAME:events` (the stream:
presence changes and messages in the line's one order), `line:NAME:seq`, `line:NAME:direct` (a
hash: identity -> newest direct number), `line:NAME:epoch`, `line:NAME:order` (the newest
connection order a hello was given, see RESERVE), `line:NAME:sent:DIGEST` (a message's numbers,
for a resend within the window).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ..protocol import ChatMessage, ClientInfo, ClientStatus
from .redis_nicknames import NICKNAME_FUNCTIONS, nickname_entry
from .store import Direct

PREFIX = "ozchat:"
HUBS = PREFIX + "hubs"
TYPING_CHANNEL = PREFIX + "typing"  # one pub/sub channel for all lines: typing is small and short-lived


def line_key(line: str, what: str) -> str:
    return f"{PREFIX}line:{line}:{what}"


# A local presence change: the member's record in the roster, this hub's client set (and the set of the
# hub it was taken over from, on a resume here), who holds its number and its nickname (ARGV[8]), then the
# change appended to the stream. An ONLINE of a connection older (ARGV[9], see RESERVE) than the one another
# hub published is stale (written late): it only takes the member out of this hub's client set.
PUBLISH_PRESENCE = NICKNAME_FUNCTIONS + """
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  local held = cjson.decode(old)
  local previous = held['hub']
  if ARGV[4] == '1' and previous ~= ARGV[1] and (tonumber(held['order']) or 0) > tonumber(ARGV[9]) then
    redis.call('SREM', KEYS[3], ARGV[5])
    return false
  end
  if previous ~= ARGV[1] then redis.call('SREM', ARGV[7] .. 'hub:' .. previous .. ':clients', ARGV[5]) end
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
  hold_nickname(KEYS[5], ARGV[2], ARGV[8])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[5])
  if redis.call('HGET', KEYS[4], ARGV[2]) == ARGV[1] then
    redis.call('HDEL', KEYS[4], ARGV[2])
    release_nicknames(KEYS[5], ARGV[2], {})
  end
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'hub', ARGV[1], 'kind', 'presence', 'data', ARGV[3])
"""

# A message: a resend of the same message by the same client is answered with the original's numbers;
# otherwise the next line number or the next direct number of each party (never below what the hub has
# seen: Redis may have lost its data since), then the stream.
# Returns {appended, seq, ts, the sender's direct number, the entry id}.
POST = """
local earlier = redis.call('GET', KEYS[3])
if earlier then
  local seq, ts, direct = string.match(earlier, '(%d+) (%d+) (%d*)')
  return {0, tonumber(seq), tonumber(ts), tonumber(direct) or -1, ''}
end
redis.call('SET', KEYS[5], ARGV[8], 'NX')
local seq = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(ARGV[4]))
local function next_direct(identity, known)
  local number = math.max(tonumber(redis.call('HGET', KEYS[4], identity) or '0'), tonumber(known)) + 1
  redis.call('HSET', KEYS[4], identity, number)
  return number
end
local sender_seq, recipient_seq = -1, -1
if ARGV[5] == '' then
  seq = seq + 1
else
  sender_seq = next_direct(ARGV[5], ARGV[11])
  recipient_seq = sender_seq
  if ARGV[6] ~= ARGV[5] then recipient_seq = next_direct(ARGV[6], ARGV[12]) end
end
redis.call('SET', KEYS[2], seq)
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*', 'hub', ARGV[1], 'kind', 'message',
           'data', ARGV[2], 'author', ARGV[3], 'seq', seq, 'si', ARGV[5], 'ri', ARGV[6],
           'ss', sender_seq, 'rs', recipient_seq)
if ARGV[9] ~= '' then
  local direct = ''
  if sender_seq >= 0 then direct = tostring(sender_seq) end
  redis.call('SET', KEYS[3], seq .. ' ' .. ARGV[10] .. ' ' .. direct, 'EX', ARGV[9])
end
return {1, seq, tonumber(ARGV[10]), sender_seq, entry}
"""

# Every hub whose heartbeat expired: its clients leave the rosters, each OFFLINE published once ('gone'),
# and the numbers it held (its members' and those reserved for hellos) are free again, with their nicknames.
REAP = NICKNAME_FUNCTIONS + """
local reaped = 0
for _, hub in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'hub:' .. hub) == 0 then
    local clients = ARGV[1] .. 'hub:' .. hub .. ':clients'
    for _, member in ipairs(redis.call('SMEMBERS', clients)) do
      local pair = cjson.decode(member)
      local numbers = ARGV[1] .. 'line:' .. pair[1] .. ':numbers'
      if redis.call('HGET', numbers, pair[2]) == hub then
        redis.call('HDEL', numbers, pair[2])
        release_nicknames(ARGV[1] .. 'line:' .. pair[1] .. ':nicknames', pair[2], {})
      end
      local roster = ARGV[1] .. 'line:' .. pair[1] .. ':roster'
      local record = redis.call('HGET', roster, pair[2])
      if record and cjson.decode(record)['hub'] == hub then
        redis.call('HDEL', roster, pair[2])
        redis.call('XADD', ARGV[1] .. 'line:' .. pair[1] .. ':events', 'MAXLEN', '~', ARGV[2], '*',
                   'hub', hub, 'kind', 'gone', 'data', record)
        reaped = reaped + 1
      end
    end
    redis.call('DEL', clients)
    redis.call('SREM', KEYS[1], hub)
  end
end
return reaped
"""


class Record(msgspec.Struct, frozen=True):
    """A member as the shared roster keeps it: the hub serving it, its identity and resume token (hashed).

    `order`: when Redis reserved for the hello of the member's connection there (see RESERVE), so of two
    hubs' ONLINEs for one member, the newer connection's is known (0: a hub or record without it).
    """

    hub: str
    identity: str
    token: str
    info: ClientInfo
    order: int = 0


class Message(NamedTuple):
    """A message read from a line's stream (the id of its entry there), numbered by Redis."""

    entry_id: str
    message: ChatMessage
    author: str
    direct: Direct | None


class LineView(NamedTuple):
    """What a hub starting to serve a line reads: roster, numbering and the stream's newest messages."""

    roster: list[Record]
    epoch: str
    last_seq: int
    direct_seqs: dict[str, int]  # each identity's newest direct number
    messages: list[Message]


class Numbers(NamedTuple):
    """A message's numbers as Redis gave them (or gave them before, to the same message: `entry_id` empty)."""

    entry_id: str
    seq: int
    ts: int
    direct_seq: int | None


record_decoder = msgspec.json.Decoder(Record)
message_decoder = msgspec.json.Decoder(ChatMessage)

# What the backplane feeds the hub: a line it starts to serve, another hub's presence change, each message.
LineSink = Callable[[str, LineView], None]
PresenceSink = Callable[[str, ClientInfo, "Record | None"], None]
MessageSink = Callable[[str, Message], None]


def numbers_of(answer: list[Any]) -> Numbers:
    """What the POST script answered."""
    appended, seq, ts, direct_seq, entry_id = answer
    direct_number = int(direct_seq) if int(direct_seq) >= 0 else None
    return Numbers(entry_id if appended else "", int(seq), int(ts), direct_number)


def encode_record(hub: str, identity: str, token: str, info: ClientInfo, order: int) -> bytes:
    return msgspec.json.encode(Record(hub, identity, token, info, order))


def presence_write(
    hub: str, clients_key: str, keep: int, line: str, info: ClientInfo, identity: str, token: str, order: int
) -> tuple[list[str], list[Any]]:
    """The keys and arguments of PUBLISH_PRESENCE for one of this hub's members."""
    online = info.status is ClientStatus.ONLINE
    keys = [line_key(line, "roster"), line_key(line, "events"), clients_key, line_key(line, "numbers"),
            line_key(line, "nicknames")]
    record = encode_record(hub, identity, token, info, order)
    nickname = nickname_entry(info.properties) if online else ""
    return keys, [hub, info.phone_number, record, int(online), json.dumps([line, info.phone_number]), keep, PREFIX,
                  nickname, order]


def entry_id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def read_message(entry_id: str, fields: dict[str, str]) -> Message:
    message = msgspec.structs.replace(message_decoder.decode(fields["data"]), seq=int(fields["seq"]))
    if not fields.get("ri"):
        return Message(entry_id, message, fields["author"], None)
    direct = Direct(fields["si"], fields["ri"], int(fields["ss"]), int(fields["rs"]))
    return Message(entry_id, message, fields["author"], direct)


def without_password(url: str) -> str:
    """A Redis URL fit for a log: its password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def resend_digest(*parts: object) -> str:
    """What tells a resend of a message from another message: its author, id, recipient, action and text."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()
