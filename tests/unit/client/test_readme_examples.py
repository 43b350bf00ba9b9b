"""The README's "Python client" examples are the files in examples/, and they run: against
a real search_core on loopback, the blocking one submits a search and reads it back, the
asyncio one lists it and its candidates."""

import asyncio
import contextlib
import importlib.util
import io
import re
from pathlib import Path

from tests.support.search_api import CONFIG

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ("python_client.py", "python_client_async.py")


def _example(name: str):
    path = ROOT / "examples" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_example_files():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Python client\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks == [(ROOT / "examples" / name).read_text() for name in EXAMPLES]


async def test_the_examples_run_against_a_real_server(api, tmp_path):
    config = tmp_path / "search.toml"
    config.write_text(
        "\n".join(f"{key} = {value!r}" for key, value in CONFIG.items() if key != "training")
        + "\n[training]\nepochs = 2\n"
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        search_id = await asyncio.to_thread(
            _example("python_client.py").run, api.target, api.tokens["acme"], None, config, tmp_path
        )
        outcomes = await _example("python_client_async.py").run(
            api.target, api.tokens["acme"], None
        )
    lines = printed.getvalue().splitlines()
    assert f"{search_id} succeeded" in lines
    assert [line.split()[0] for line in lines if line.startswith(("1 ", "2 ", "3 "))] == [
        "1",
        "2",
        "3",
    ]  # the leaderboard
    assert "no weights kept for candidate" in printed.getvalue()  # this server keeps none
    assert len(outcomes) == 3 and set(outcomes.values()) == {"success"}
    assert any(line.startswith(f"{search_id} 3 ") for line in lines)  # list_searches
