"""Nicknames unique across hubs that share a line: each look-alike key is claimed in Redis, by one phone number.

No I/O here: the Lua below is part of the scripts that reserve numbers (redis_numbers.py), publish
presence and reap dead hubs (redis_scripts.py). Each line has a hash `line:NAME:nicknames`: field
`k:KEY` -> the phone number holding that look-alike key (see ozchat/names.py), `n:NUMBER` -> JSON
[nickname, keys...] of what the number holds. A hello claims its nickname's keys in the script that
reserves its number, an update that changes the nickname claims them before the state takes it;
either claims nothing when another number holds a key, and the state refuses it as on one hub
(`nickname_in_use`). Every ONLINE a hub publishes for its member sets what the member holds (a
claim the state refused is given back so), an OFFLINE gives it back, and so does the reaper for a
dead hub's numbers. After Redis lost its data, the hubs publish their members again, names included.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from ..exceptions import ProtocolError
from ..names import nickname_keys
from ..protocol import Hello, merge_properties, nickname_of

# Lua functions the scripts that touch nicknames start with (a hash, then numbers and JSON entries as above).
NICKNAME_FUNCTIONS = """
local function nickname_keys_of(hash, number)
  local entry = redis.call('HGET', hash, 'n:' .. number)
  if not entry then return {} end
  local keys = cjson.decode(entry)
  table.remove(keys, 1)
  return keys
end
local function release_nicknames(hash, number, keep)
  for _, key in ipairs(nickname_keys_of(hash, number)) do
    if not keep[key] and redis.call('HGET', hash, 'k:' .. key) == number then redis.call('HDEL', hash, 'k:' .. key) end
  end
  redis.call('HDEL', hash, 'n:' .. number)
end
local function hold_nickname(hash, number, entry)
  local keys, keep = {}, {}
  if entry ~= '' then keys = cjson.decode(entry) end
  local held = {table.remove(keys, 1)}
  for _, key in ipairs(keys) do keep[key] = true end
  release_nicknames(hash, number, keep)
  for _, key in ipairs(keys) do
    local holder = redis.call('HGET', hash, 'k:' .. key)
    if not holder or holder == number then
      redis.call('HSET', hash, 'k:' .. key, number)
      table.insert(held, key)
    end
  end
  if #held > 1 then redis.call('HSET', hash, 'n:' .. number, cjson.encode(held)) end
end
local function claim_nickname(hash, owner, also, entry)
  local keys = cjson.decode(entry)
  local nickname = table.remove(keys, 1)
  local held, free, blocked = {}, {}, false
  for _, key in ipairs(keys) do
    local holder = redis.call('HGET', hash, 'k:' .. key)
    if not holder then
      table.insert(free, key)
    elseif holder ~= owner then
      local theirs = redis.call('HGET', hash, 'n:' .. holder)
      table.insert(held, key)
      table.insert(held, holder)
      table.insert(held, theirs and cjson.decode(theirs)[1] or '')
      blocked = blocked or holder ~= also
    end
  end
  if blocked or #free == 0 then return held end
  local mine = nickname_keys_of(hash, owner)
  for _, key in ipairs(free) do
    redis.call('HSET', hash, 'k:' .. key, owner)
    table.insert(mine, key)
  end
  table.insert(mine, 1, nickname)
  redis.call('HSET', hash, 'n:' .. owner, cjson.encode(mine))
  return held
end
local function move_nicknames(hash, from, to)
  local entry = redis.call('HGET', hash, 'n:' .. from)
  if not entry then return end
  local keys = cjson.decode(entry)
  local held = {table.remove(keys, 1)}
  local theirs = redis.call('HGET', hash, 'n:' .. to)
  if theirs then
    local nickname = held[1]
    held = cjson.decode(theirs)
    held[1] = nickname
  end
  for _, key in ipairs(keys) do
    if redis.call('HGET', hash, 'k:' .. key) == from then
      redis.call('HSET', hash, 'k:' .. key, to)
      table.insert(held, key)
    end
  end
  redis.call('HDEL', hash, 'n:' .. from)
  redis.call('HSET', hash, 'n:' .. to, cjson.encode(held))
end
"""

# An update's new nickname, claimed for the member (nothing claimed when another number holds a key):
# returns each key another number holds, flattened as key, holder, the holder's nickname.
CLAIM = NICKNAME_FUNCTIONS + "return claim_nickname(KEYS[1], ARGV[1], '', ARGV[2])"

# What a member holds once the state decided (an update it refused gives back what was claimed for it).
HOLD = NICKNAME_FUNCTIONS + "hold_nickname(KEYS[1], ARGV[1], ARGV[2])\nreturn 1"

# The look-alike keys other numbers hold, as a claim answered: key -> (holder, the holder's nickname).
Held = dict[str, tuple[str, str]]


def nickname_entry(properties: dict[str, Any]) -> str:
    """What Redis keeps of a member's nickname: JSON [nickname, its look-alike keys...], or '' for none."""
    nickname = nickname_of(properties)
    return "" if nickname is None else json.dumps([nickname, *sorted(nickname_keys(nickname))])


def held_of(flat: list[str]) -> Held:
    """A claim's answer (key, holder, nickname, key, ...) as a mapping."""
    return {flat[i]: (flat[i + 1], flat[i + 2]) for i in range(0, len(flat) - 2, 3)}


def hello_claim(hello: Hello) -> tuple[str, str]:
    """The nickname entry a hello asks for ('' for none) and the number it would resume ('' for none)."""
    entry = "" if hello.properties is msgspec.UNSET else nickname_entry(hello.properties)
    return entry, hello.resume.phone_number if hello.resume is not None else ""


class _Update(msgspec.Struct):
    type: Any = None
    properties: Any = None


_update_decoder = msgspec.json.Decoder(_Update)


def update_claim(current: dict[str, Any], raw: str | bytes) -> str | None:
    """The nickname entry a member's frame asks for when it is a valid update changing the nickname, else None."""
    if not isinstance(raw, str):
        return None
    try:
        frame = _update_decoder.decode(raw)
        if frame.type != "update" or not isinstance(frame.properties, dict):
            return None
        merged = merge_properties(current, frame.properties)
    except (msgspec.ValidationError, msgspec.DecodeError, ProtocolError, TypeError):
        return None  # the state refuses it, as on one hub
    nickname = nickname_of(merged)
    if nickname is None or nickname == nickname_of(current):
        return None
    return nickname_entry(merged)
