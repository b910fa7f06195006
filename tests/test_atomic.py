"""gridmap.io.atomic: a file is there whole or not at all, and no temporary file is left."""

from __future__ import annotations

import pytest

from gridmap.io.atomic import atomic_new_path, atomic_path, write_text_atomic


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.gpkg"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".gpkg" and not tmp.exists()
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing moves before the block ends
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_atomic_path_suffix_and_block_that_writes_nothing(tmp_path):
    with atomic_path(tmp_path / "plain", suffix=".csv") as tmp:
        assert tmp.name.endswith(".tmp.csv")
        tmp.write_text("x")
    assert (tmp_path / "plain").read_text() == "x"
    # A block that never creates its file: the rename fails, nothing is left.
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "never.txt"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_atomic_new_path_never_replaces(tmp_path):
    target = tmp_path / "store.gpkg"
    with atomic_new_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(FileExistsError), atomic_new_path(target) as tmp:
        tmp.write_text("second")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["store.gpkg"]


def test_write_text_atomic(tmp_path):
    path = write_text_atomic(tmp_path / "page.html", "<p>网格</p>\n", encoding="utf-8-sig")
    assert path.read_bytes() == "\ufeff<p>网格</p>\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
