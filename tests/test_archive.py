"""Planning a batch run: which pages, where they go, and the rules that keep
inputs untouched and outputs inside DST (checked before any work)."""
import os

import pytest

from mchmc.batch.plan import Plan, PlanError, check_plan, scan


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jobs(src, dst, **kw):
    return list(Plan(src, dst, **kw).jobs())


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "scans"
    for rel in ["a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp", "notes.txt", "vol1/thumbs.db"]:
        touch(src / rel)
    return src


def test_folder_is_walked_and_mirrored(tree, tmp_path):
    dst = tmp_path / "out"
    found, seen = scan(tree, dst)
    assert [j.src.relative_to(tree).as_posix() for j in found] == [
        "a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp"]
    assert [j.dst.relative_to(dst).as_posix() for j in found] == [
        "a.png", "vol1/p001.jpg", "vol1/p002.TIF", "vol2/deep/x.webp"]
    assert seen.ignored == 2


def test_output_inside_the_source_is_not_rescanned(tree):
    dst = tree / "x2"
    touch(dst / "a.png")
    touch(dst / "vol1" / "p001.jpg")
    found, _ = scan(tree, dst)
    assert all("x2" not in j.src.parts for j in found)
    assert len(found) == 4


def test_output_names_follow_the_format(tree, tmp_path):
    found, _ = scan(tree, tmp_path / "o", name_for=lambda p: p.stem + ".png")
    assert {j.dst.name for j in found} == {"a.png", "p001.png", "p002.png", "x.png"}


def test_two_inputs_onto_one_output_is_refused(tmp_path):
    touch(tmp_path / "s" / "a.png")
    touch(tmp_path / "s" / "a.jpg")
    with pytest.raises(PlanError, match="same output"):
        scan(tmp_path / "s", tmp_path / "o", name_for=lambda p: p.stem + ".png")


def test_single_file_and_list_file(tree, tmp_path):
    assert [j.dst for j in jobs(tree / "a.png", tmp_path / "o")] == [tmp_path / "o" / "a.png"]
    listing = tree / "pages.txt"
    listing.write_text("# chapter 1\nvol1/p001.jpg\n\n" + str(tree / "a.png") + "\nvol1/missing.png\n")
    plan = Plan(listing, tmp_path / "o")
    assert [j.dst.relative_to(tmp_path / "o").as_posix() for j in plan.jobs()] == ["vol1/p001.jpg", "a.png"]
    assert [p.name for p in plan.seen.missing] == ["missing.png"] and plan.seen.missing_count == 1


def test_listed_paths_outside_the_lists_folder_mirror_their_whole_path_inside_dst(tmp_path):
    """'../src/a.png' and absolute paths: never out/../src/a.png, never colliding."""
    a, b = touch(tmp_path / "src" / "a.png"), touch(tmp_path / "other" / "a.png")
    listing = touch(tmp_path / "lists" / "l.txt", f"../src/a.png\n{b}\n".encode())
    dst = tmp_path / "out"
    found = jobs(listing, dst)
    assert [j.src for j in found] == [a, b]
    for j in found:
        assert os.path.realpath(j.dst).startswith(str(dst.resolve()) + os.sep)
        assert j.dst == dst / j.src.relative_to("/")
    check_plan(Plan(listing, dst))  # no collision, nothing outside DST


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Plan(tmp_path / "nope", tmp_path / "o")


# ---------------------------------------------------------------- inputs are never outputs (issue 15, 1-5)

def test_dst_equal_to_src_is_refused(tree):
    with pytest.raises(PlanError, match="DST is SRC"):
        check_plan(Plan(tree, tree))


def test_src_inside_dst_with_an_output_onto_an_input_is_refused(tmp_path):
    touch(tmp_path / "t" / "s" / "x.png")
    touch(tmp_path / "t" / "s" / "s" / "x.png")
    with pytest.raises(PlanError, match="overwrite an input"):
        check_plan(Plan(tmp_path / "t" / "s", tmp_path / "t"))


def test_a_listed_input_inside_dst_that_is_its_own_output_is_refused(tmp_path):
    touch(tmp_path / "src" / "a.png")
    listing = touch(tmp_path / "l.txt", b"src/a.png\n")
    with pytest.raises(PlanError, match="overwrite an input"):
        check_plan(Plan(listing, tmp_path))


def test_a_symlinked_folder_inside_dst_is_not_written_through(tree, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "vol1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(PlanError, match="outside DST"):
        check_plan(Plan(tree, tmp_path / "out"))


def test_symlinks_inside_src_are_not_followed_but_counted(tmp_path):
    outside = touch(tmp_path / "outside" / "secret.png")
    touch(tmp_path / "s" / "real.png")
    (tmp_path / "s" / "link.png").symlink_to(outside)
    (tmp_path / "s" / "linked-folder").symlink_to(outside.parent, target_is_directory=True)
    plan = Plan(tmp_path / "s", tmp_path / "o")
    assert [j.src.name for j in plan.jobs()] == ["real.png"]
    assert plan.seen.symlink_count == 2


def test_a_report_onto_an_input_or_an_output_is_refused(tree, tmp_path):
    with pytest.raises(PlanError, match="report would overwrite this input"):
        check_plan(Plan(tree, tmp_path / "o"), (tree / "a.png",))
    with pytest.raises(PlanError, match="report would overwrite this output"):
        check_plan(Plan(tree, tmp_path / "o"), (tmp_path / "o" / "a.png",))


def test_classify_only_guards_the_report(tree):
    with pytest.raises(PlanError, match="report would overwrite this input"):
        check_plan(Plan(tree, "."), (tree / "vol1" / "p001.jpg",), writes=False)
    assert check_plan(Plan(tree, tree), (tree / "r.jsonl",), writes=False).pages == 4


def test_the_plan_is_a_generator_not_a_list(tree, tmp_path):
    it = Plan(tree, tmp_path / "o").jobs()
    assert next(it).src.name == "a.png" and iter(it) is it
