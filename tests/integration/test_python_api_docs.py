"""docs/python-api.md shows the library as it is: its ```python blocks run, in order, in
one namespace, on this run's own hutch root (named in $HUTCH_ROOT, as a reader's would be)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def test_python_api_examples_run(hutch_root, monkeypatch):
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5, "docs/python-api.md lost its examples"
    monkeypatch.setenv("HUTCH_ROOT", str(hutch_root.root))
    namespace: dict[str, object] = {"__name__": "python_api_md"}
    out = io.StringIO()
    try:
        for i, code in enumerate(blocks, 1):
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{DOC.name} block {i}", "exec"), namespace)
    finally:
        host = namespace.get("host")
        for ct in host.containers() if host is not None else ():  # type: ignore[attr-defined]
            ct.destroy(force=True)
    text = out.getvalue()
    assert "web1 stopped" in text and "b'hello\\n'" in text, text
    assert "got b'line 3\\n'" in text and "exit status 0" in text, text
    assert "container web1 does not exist" in text, text
    assert os.environ["HUTCH_ROOT"] == str(hutch_root.root)
