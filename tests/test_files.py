"""The two file rules: an atomic write, and a directory pruned to a size, oldest first."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ozchat.files import prune_oldest, write_atomically


def _file(directory: Path, name: str, size: int, mtime: int) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_an_atomic_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["a.png"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    (tmp_path / "in-the-way").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "in-the-way", b"new")  # a directory cannot be replaced by a file
    assert target.read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png", "in-the-way"]


def test_concurrent_atomic_writes_never_show_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "body"
    bodies = [bytes([n]) * 200_000 for n in range(8)]
    write_atomically(target, bodies[0])
    torn: list[int] = []
    def write_five_times(body: bytes) -> None:
        for _ in range(5):
            write_atomically(target, body)

    writers = [threading.Thread(target=write_five_times, args=(body,)) for body in bodies]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        seen = target.read_bytes()
        if seen not in bodies:
            torn.append(len(seen))
    for writer in writers:
        writer.join()
    assert torn == [] and target.read_bytes() in bodies
    assert [path.name for path in tmp_path.iterdir()] == ["body"]


def test_pruning_deletes_the_oldest_until_the_rest_fit(tmp_path: Path) -> None:
    old, middle, new = (_file(tmp_path, f"{name}.png", 100, age) for age, name in enumerate(("old", "mid", "new")))
    other = _file(tmp_path, "other.json", 1000, 0)

    assert prune_oldest(tmp_path, "*.png", 250) == [old]
    assert not old.exists() and middle.exists() and new.exists() and other.exists()
    assert prune_oldest(tmp_path, "*.png", 250) == []
    assert prune_oldest(tmp_path, "*.png", 0) == [middle, new]


def test_pruning_spares_the_file_to_keep_even_when_it_is_the_oldest(tmp_path: Path) -> None:
    kept, second, third = (_file(tmp_path, f"{n}.png", 100, n) for n in (1, 2, 3))
    assert prune_oldest(tmp_path, "*.png", 150, keep=kept) == [second, third]
    assert kept.exists()


def test_pruning_a_missing_directory_deletes_nothing(tmp_path: Path) -> None:
    assert prune_oldest(tmp_path / "absent", "*.png", 0) == []
