"""The README's Python examples, run as written against moatd on the example rules: each block's
output must be the text block that follows it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Daemon

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```\n\n```text\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) == 2
    assert README.read_text().count("```python") == len(BLOCKS), "a Python block without its output"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example(example_daemon: Daemon, alice_token: str, index: int) -> None:
    code, expected = BLOCKS[index]
    ran = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MOAT_SOCKET": example_daemon.socket, "TOKEN": alice_token},
        capture_output=True, text=True, timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == expected
