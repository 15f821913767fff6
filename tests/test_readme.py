"""The README's Python examples run as written (the tour is the first thing a user copies).

The fenced ``python`` blocks run in order in one namespace (the tour reads as one session), with
deprecation warnings as errors so the tour never shows a path that is on its way out.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The fenced python code blocks of a markdown text, in order."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


BLOCKS = python_blocks(README.read_text())


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 4, "the README's tour lost its examples"


def test_readme_examples_run_in_order():
    namespace: dict = {"__name__": "readme"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for index, code in enumerate(BLOCKS):
            exec(compile(code, f"README.md python block {index}", "exec"), namespace)


def test_python_blocks_finds_blocks_and_only_python_ones():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]
