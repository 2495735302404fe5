"""Commands that write a directory refuse an --out they cannot create before they start the work."""

from pathlib import Path

import pytest

from credo.cli import main


@pytest.mark.parametrize(
    ("command", "started"),
    [
        (["train", "--table", "loans.csv", "--label", "defaulted"], "training the model zoo"),
        (["world", "--customers", "50", "--quiet"], "world written"),
    ],
)
def test_given_an_output_path_that_is_a_file_then_the_command_refuses_before_the_work(
    command: list[str], started: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "results"
    taken.write_text("not a directory")

    code = main([*command, "--out", str(taken)])

    captured = capsys.readouterr()
    assert code == 2
    assert f"credo {command[0]}: cannot write to --out {taken}: File exists" in captured.err
    assert started not in captured.out
