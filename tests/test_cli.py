"""Every command answers a malformed command line with one line on stderr and exit code 2."""
import pytest

from resdeep.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["train", "--bad"], "train: unrecognized arguments: --bad"),
        (["train", "--cfg", "nope"], "invalid choice: 'nope'"),
        (["demo", "--bad"], "demo: unknown option '--bad'"),
        (["bench", "--iters", "abc"], "bench: argument --iters: invalid int value: 'abc'"),
        (["bench", "--iters", "0"], "--iters must be at least 1 (got 0)"),
        (["bench", "--workers", "-1"], "--workers must each be at least 0 (got --warmup 2, --workers -1)"),
        (["report"], "report: the following arguments are required: folders"),
        (["report", "--nope", "x"], "report: unrecognized arguments: --nope"),
        (["analyze", "lesion", "--images", "x"], "analyze lesion: argument --images: invalid int value"),
        (["summary", "--bad"], "unknown option '--bad'"),
    ],
)
def test_a_malformed_command_line_gets_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert message in stderr and stderr.count("\n") == 1, stderr
    assert "usage:" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "{tmp}", "--out", "{tmp}/a_file"], "cannot write to --out"),
        (["analyze", "init", "--out", "{tmp}/a_file/sub"], "cannot write to --out"),
        (["bench", "--json", "{tmp}/a_file/bench.json"], "cannot write to --json"),
        (["bench", "--json", "{tmp}"], "is a folder; give a file name"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(argv, message, tmp_path, capsys):
    existing = tmp_path / "a_file"
    existing.write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(tmp=tmp_path) for arg in argv])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert existing.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
