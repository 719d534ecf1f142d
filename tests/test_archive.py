"""Safe extraction refuses crafted archives and writes nothing outside the target; patching."""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from fetch_helpers import make_tar, make_zip
from tflm_build.fetch.archive import apply_patch, extract
from tflm_build.errors import FetchError
from tflm_build.fetch.treehash import hash_digests, tree_hash


def _refused(tmp_path: Path, data: bytes, match: str, **kw: object) -> None:
    """Extraction fails with ``match`` and leaves nothing beside its (empty) target folder."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    archive = work / "archive.bin"
    archive.write_bytes(data)
    box = work / "box"
    box.mkdir()
    with pytest.raises(FetchError, match=match):
        extract(archive, box / "tree", **kw)  # type: ignore[arg-type]
    assert sorted(p.name for p in work.iterdir()) == ["archive.bin", "box"]
    assert [p.name for p in box.iterdir()] in ([], ["tree"])


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_zip_and_every_tar_compression(tmp_path: Path) -> None:
    files = {"a.txt": b"A", "sub/b.txt": b"B"}
    archives = {"zip": make_zip(files, "top")}
    for mode in ("w", "w:gz", "w:bz2", "w:xz"):
        archives[mode] = make_tar([(f"top/{k}", v) for k, v in files.items()], mode)
    for kind, data in archives.items():
        archive = tmp_path / f"archive-{kind.replace(':', '')}"
        archive.write_bytes(data)
        dest = tmp_path / f"out-{kind.replace(':', '')}"
        extract(archive, dest, "top")
        assert (dest / "sub/b.txt").read_bytes() == b"B" and (dest / "a.txt").read_bytes() == b"A"


def test_internal_links_are_kept(tmp_path: Path) -> None:
    archive = tmp_path / "archive.tar"
    archive.write_bytes(make_tar([("top/lib/real.h", b"x"), _link("top/inc/alias.h", "../lib/real.h"),
                                  _link("top/hard.h", "top/lib/real.h", tarfile.LNKTYPE)], "w"))
    digests = extract(archive, tmp_path / "t", "top")
    assert os.readlink(tmp_path / "t/inc/alias.h") == "../lib/real.h"
    assert (tmp_path / "t/hard.h").read_bytes() == b"x"
    # The digests taken while writing give the same tree hash as reading the tree back.
    assert hash_digests(digests) == tree_hash(tmp_path / "t")
    assert hash_digests(digests, ["inc"]) == tree_hash(tmp_path / "t", ["inc"]) != tree_hash(tmp_path / "t")


def test_zip_traversal(tmp_path: Path) -> None:
    _refused(tmp_path, make_zip({"../evil.txt": b"x"}), "'..' path component")


def test_zip_absolute_path(tmp_path: Path) -> None:
    _refused(tmp_path, make_zip({"/tmp/evil.txt": b"x"}), "absolute path")


def test_zip_symlink_escape(tmp_path: Path) -> None:
    _refused(tmp_path, make_zip({"top/ok.txt": b"x", "top/link": "../../outside"}, ""),
             "points outside the tree", strip_prefix="top")


def test_zip_write_through_symlink(tmp_path: Path) -> None:
    _refused(tmp_path, make_zip({"dir": ".", "dir/file": b"x"}), "through a symbolic link")


def test_tar_traversal(tmp_path: Path) -> None:
    _refused(tmp_path, make_tar([("top/../../evil.txt", b"x")]), "'..' path component")


def test_tar_absolute_path(tmp_path: Path) -> None:
    _refused(tmp_path, make_tar([("/etc/evil", b"x")]), "absolute path")


def test_tar_symlink_escape(tmp_path: Path) -> None:
    _refused(tmp_path, make_tar([_link("top/escape", "/etc/passwd")]), "absolute or odd target", strip_prefix="top")
    _refused(tmp_path, make_tar([_link("top/a/escape", "../../..")]), "outside the tree", strip_prefix="top")


def test_tar_hardlink_escape(tmp_path: Path) -> None:
    _refused(tmp_path, make_tar([_link("top/h", "other/secret", tarfile.LNKTYPE)]), "hard link",
             strip_prefix="top")
    _refused(tmp_path, make_tar([_link("top/h", "../../etc/passwd", tarfile.LNKTYPE)]), "'..'",
             strip_prefix="top")


def test_tar_device_and_fifo(tmp_path: Path) -> None:
    for kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
        info = tarfile.TarInfo("top/dev")
        info.type = kind
        _refused(tmp_path, make_tar([info]), "device, FIFO")


def test_oversize_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, make_zip({"big": b"\0" * 100_000}), "more than 1000 bytes", max_size=1000)


def test_size_is_counted_while_writing(tmp_path: Path) -> None:
    """A tar whose header size is honest but large still counts against the limit."""
    _refused(tmp_path, make_tar([("a", b"1" * 600), ("b", b"2" * 600)], "w"), "more than 1000 bytes",
             max_size=1000)


def test_not_an_archive_and_missing_prefix(tmp_path: Path) -> None:
    _refused(tmp_path, b"<html>rate limited</html>", "not a zip or tar")
    _refused(tmp_path, make_zip({"other/x": b"x"}), "no files below 'top/'", strip_prefix="top")


def test_corrupt_zip(tmp_path: Path) -> None:
    data = bytearray(make_zip({"a.txt": b"hello" * 1000}))
    data[40:60] = b"\xff" * 20  # damage the compressed stream
    _refused(tmp_path, bytes(data), "corrupt archive")


def test_executable_bit_kept_setuid_dropped(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("run.sh")
        info.create_system = 3
        info.external_attr = 0o104755 << 16
        z.writestr(info, "#!/bin/sh\n")
    archive = tmp_path / "archive.zip"
    archive.write_bytes(out.getvalue())
    extract(archive, tmp_path / "t")
    assert (tmp_path / "t/run.sh").stat().st_mode & 0o7777 == 0o755


# ---------------------------------------------------------------- patches

ORIGINAL = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\n"


def _tree(tmp_path: Path, text: str = ORIGINAL) -> Path:
    (tmp_path / "t/src").mkdir(parents=True)
    (tmp_path / "t/src/f.c").write_text(text, newline="")
    return tmp_path / "t"


def _patch(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.patch"
    path.write_text(text)
    return path


GIT_PATCH = """diff --git a/src/f.c b/src/f.c
index 1..2 100644
--- a/src/f.c
+++ b/src/f.c
@@ -2,3 +2,4 @@
 line 2
-line 3
+line three
+line 3.5
 line 4
diff --git a/src/new.c b/src/new.c
new file mode 100644
--- /dev/null
+++ b/src/new.c
@@ -0,0 +1,2 @@
+int x;
+int y;
--
2.40.0
"""


def test_patch_modifies_and_creates(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    apply_patch(tree, _patch(tmp_path, GIT_PATCH), 1)
    assert (tree / "src/f.c").read_text() == ORIGINAL.replace("line 3\n", "line three\nline 3.5\n")
    assert (tree / "src/new.c").read_text() == "int x;\nint y;\n"


def test_patch_with_offset_and_whitespace(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "extra\nextra\n" + ORIGINAL.replace("line 2\n", "line 2  \n"))
    apply_patch(tree, _patch(tmp_path, GIT_PATCH), 1)
    text = (tree / "src/f.c").read_text()
    assert "line three\nline 3.5\n" in text and "line 2  \n" in text  # context keeps the file's own text


def test_patch_keeps_crlf(tmp_path: Path) -> None:
    tree = _tree(tmp_path, ORIGINAL.replace("\n", "\r\n"))
    apply_patch(tree, _patch(tmp_path, GIT_PATCH), 1)
    assert (tree / "src/f.c").read_bytes() == ORIGINAL.replace("line 3\n", "line three\nline 3.5\n").replace(
        "\n", "\r\n").encode()


def test_patch_that_does_not_fit_changes_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path, ORIGINAL.replace("line 3", "something else"))
    with pytest.raises(FetchError, match="does not apply to 'src/f.c'"):
        apply_patch(tree, _patch(tmp_path, GIT_PATCH), 1)
    assert not (tree / "src/new.c").exists()
    assert "something else" in (tree / "src/f.c").read_text()


def test_patch_no_newline_at_end(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "a\nb")
    apply_patch(tree, _patch(tmp_path, "--- x/src/f.c\n+++ x/src/f.c\n@@ -1,2 +1,2 @@\n a\n-b\n"
                                       "\\ No newline at end of file\n+c\n"), 1)
    assert (tree / "src/f.c").read_text() == "a\nc\n"


def test_patch_strip_zero_and_bad_strip(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    apply_patch(tree, _patch(tmp_path, "--- src/f.c\n+++ src/f.c\n@@ -1 +1 @@\n-line 1\n+first\n"), 0)
    assert (tree / "src/f.c").read_text().startswith("first\n")
    with pytest.raises(FetchError, match="cannot strip"):
        apply_patch(tree, _patch(tmp_path, "--- f.c\n+++ f.c\n@@ -1 +1 @@\n-a\n+b\n"), 1)


def test_patch_escaping_the_tree_is_refused(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    with pytest.raises(FetchError, match="'..'"):
        apply_patch(tree, _patch(tmp_path, "--- a/../x\n+++ a/../x\n@@ -0,0 +1 @@\n+evil\n"), 1)
    assert not (tmp_path / "x").exists()
