"""Planning a batch run: which pages, where they go, what is already done."""
import pytest

from mchmc.archive import atomic_output, remove_stale_temporaries, scan


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "scans"
    for rel in ["a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp", "notes.txt", "vol1/thumbs.db"]:
        touch(src / rel)
    return src


def test_folder_is_walked_and_mirrored(tree, tmp_path):
    dst = tmp_path / "out"
    plan = scan(tree, dst)
    assert [j.src.relative_to(tree).as_posix() for j in plan.jobs] == [
        "a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp"]
    assert [j.dst.relative_to(dst).as_posix() for j in plan.jobs] == [
        "a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp"]
    assert sorted(p.name for p in plan.ignored) == ["notes.txt", "thumbs.db"]


def test_output_inside_the_source_is_not_rescanned(tree):
    dst = tree / "x2"
    touch(dst / "a.png")
    touch(dst / "vol1" / "p001.jpg")
    plan = scan(tree, dst)
    assert all("x2" not in j.src.parts for j in plan.jobs)
    assert len(plan.jobs) == 4


def test_output_names_follow_the_format(tree, tmp_path):
    plan = scan(tree, tmp_path / "o", name_for=lambda p: p.stem + ".png")
    assert {j.dst.name for j in plan.jobs} == {"a.png", "p001.png", "p002.png", "x.png"}


def test_two_inputs_onto_one_output_is_refused(tmp_path):
    touch(tmp_path / "s" / "a.png")
    touch(tmp_path / "s" / "a.jpg")
    with pytest.raises(ValueError, match="same output"):
        scan(tmp_path / "s", tmp_path / "o", name_for=lambda p: p.stem + ".png")


def test_single_file_and_list_file(tree, tmp_path):
    assert [j.dst for j in scan(tree / "a.png", tmp_path / "o").jobs] == [tmp_path / "o" / "a.png"]
    listing = tree / "pages.txt"
    listing.write_text("# chapter 1\nvol1/p001.jpg\n\n" + str(tree / "a.png") + "\nvol1/missing.png\n")
    plan = scan(listing, tmp_path / "o")
    assert [j.dst.relative_to(tmp_path / "o").as_posix() for j in plan.jobs] == ["vol1/p001.jpg", "a.png"]
    assert [p.name for p in plan.missing] == ["missing.png"]


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        scan(tmp_path / "nope", tmp_path / "o")


def test_done_means_the_final_name_exists(tree, tmp_path):
    job = scan(tree / "a.png", tmp_path / "o").jobs[0]
    assert not job.done
    with atomic_output(job.dst) as tmp:
        tmp.write_bytes(b"page")
        assert not job.done, "nothing appears under the final name until the write completes"
    assert job.done and job.dst.read_bytes() == b"page"


def test_failed_write_leaves_nothing(tmp_path):
    dst = tmp_path / "o" / "p.png"
    with pytest.raises(RuntimeError):
        with atomic_output(dst) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list((tmp_path / "o").iterdir()) == []


def test_stale_temporaries_are_cleaned(tmp_path):
    touch(tmp_path / "o" / ".mchmc-p.abc.png.part")
    touch(tmp_path / "o" / "keep.png")
    assert remove_stale_temporaries(tmp_path / "o") == 1
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["keep.png"]
