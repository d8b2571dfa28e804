"""Issue 18, items 1-3 in process: the output-folder lock, atomic files and what a failure leaves
(the two-process and full-disk cases run the real CLI in tests/cover/test_bad_input_matrix.py)."""
import os

import pytest

from wzbounds._fileio import TMP_NAME, atomic_path, atomic_write, loads_json
from wzbounds.empirical.models import UserError
from wzbounds.empirical.outdir import WRITER_FILE, intact, reading, writing

KEEP = ("stages", "rows")


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_second_writer_and_reader_are_refused_naming_the_holder(tmp_path):
    """flock locks belong to the open folder, so even a second lock from this process is refused:
    the message names the folder and the holder's pid; the lock ends with the block."""
    out = tmp_path / "run"
    with writing(out):
        said = (out / WRITER_FILE).read_text()
        assert said.startswith(f"pid {os.getpid()}: ")
        with pytest.raises(UserError, match=rf"{out}.*pid {os.getpid()}"):
            with writing(out):
                pass
        with pytest.raises(UserError, match=rf"{out}.*pid {os.getpid()}"):
            with reading(out):
                pass
    assert not (out / WRITER_FILE).exists()
    with writing(out), pytest.raises(UserError):  # held again, then free again
        with writing(out):
            pass
    with reading(out), reading(out):  # readers share
        pass


def test_failed_fresh_run_without_rows_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError), writing(out, keep=KEEP):
        (out / "stages").mkdir()
        (out / "stages" / "tokenizer.json").write_text("{}")
        raise RuntimeError("refused after the model loaded")
    assert not (tmp_path / "a").exists()  # the parents it created go too


def test_failed_fresh_run_with_rows_keeps_what_a_resume_needs(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), writing(out, keep=KEEP):
        (out / "stages").mkdir()
        (out / "rows").mkdir()
        (out / "stages" / "config.json").write_text("{}")
        (out / "rows" / "part-main.jsonl").write_text('{"key": 0}\n')
        (out / "result.json").write_text("{}")
        (out / "report.12345.tmp.md").write_text("half")
        raise KeyboardInterrupt
    assert files(out) == ["rows/part-main.jsonl", "stages/config.json"]


def test_failed_resume_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "run"
    (out / "rows").mkdir(parents=True)
    (out / "rows" / "part-main.jsonl").write_text('{"key": 0}\n')
    (out / "result.json").write_text("{}")
    (out / "stages").mkdir()
    (out / "stages" / "config.json.999.tmp").write_text("{half")  # a killed earlier writer's
    with pytest.raises(ValueError), writing(out, keep=KEEP):
        assert not (out / "stages" / "config.json.999.tmp").exists()  # removed once the lock is held
        (out / "report.4242.tmp.md").write_text("half")
        raise ValueError("different settings")
    assert files(out) == ["result.json", "rows/part-main.jsonl"]


def test_only_our_temporary_files_are_removed(tmp_path):
    """An --out that is some other folder keeps its own *.tmp files: only those of the kinds runs
    write, where they write them, go."""
    out = tmp_path / "mine"
    (out / "deep" / "er").mkdir(parents=True)
    theirs = ["backup.2023.tmp", "notes.12.tmp.txt", "deep/er/result.4242.tmp.json"]
    ours = ["result.4242.tmp.json", "profile.json.77.tmp", "x.5.tmp.png"]
    for name in theirs + ours:
        (out / name).write_text("x")
    with writing(out):
        pass
    assert files(out) == sorted(theirs)


def test_atomic_write_is_whole_or_nothing(tmp_path):
    target = tmp_path / "report.md"
    atomic_write(target, "# α — ok\n")
    assert target.read_bytes().decode("utf-8") == "# α — ok\n"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text(encoding="utf-8") == "# α — ok\n" and files(tmp_path) == ["report.md"]
    with pytest.raises(OSError) as err, atomic_path(tmp_path / "missing" / "x.json") as tmp:
        tmp.write_text("{}")
    assert "x.json" in str(err.value.filename) and files(tmp_path) == ["report.md"]
    assert TMP_NAME.search("result.4242.tmp.json") and TMP_NAME.search("config.json.17.tmp")
    assert not TMP_NAME.search("notes.tmp.txt")


def test_intact_outputs(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"data" + b"IEND\xaeB`\x82")
    assert intact(png)
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert not intact(png)
    md = tmp_path / "report.md"
    for data, ok in ((b"# r\n", True), (b"", False), (b"# r\n\xff\n", False), (b"# r", False)):
        md.write_bytes(data)
        assert intact(md) is ok
    prof = tmp_path / "profile.json"
    prof.write_text("")
    assert not intact(prof) and not intact(tmp_path / "absent.json")


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000, "nests deeper"), ('{"a": ' * 101 + "1" + "}" * 101, "nests deeper"),
    ('{"v": ' + "9" * 5000 + "}", None), ("{bad", "not valid JSON"),
])
def test_loads_json_guards(text, needle):
    if needle is None:
        assert repr(loads_json(text, "x.json")["v"]) == "<an integer of 5000 digits>"
    else:
        with pytest.raises(ValueError, match=needle):
            loads_json(text, "x.json")
    assert loads_json('{"s": "[[[[", "n": [1, 2]}', "x") == {"s": "[[[[", "n": [1, 2]}
