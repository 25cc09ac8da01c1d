"""The README's library example states the shapes that the builders actually give."""

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: ``model = build_crnn(timesteps=9)      # input (batch, 9, 4, 128, 1) -> output (batch, 9, 1)``
SHAPE_LINE = re.compile(r"=\s*(?P<call>(?P<name>build_\w+)\(.*\))\s*#\s*input\s*(?P<input>\(.*?\))\s*->\s*output\s*(?P<output>\(.*?\))\s*$")


def _library_block() -> str:
    """The first python code block under the README's "As a library" heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## As a library\s*$(.*?)^## ", text, flags=re.M | re.S)
    assert match, "README.md has no '## As a library' section"
    block = re.search(r"```python\n(.*?)```", match.group(1), flags=re.S)
    assert block, "the 'As a library' section has no python code block"
    return block.group(1)


def _shape(text: str) -> tuple:
    """``"(batch, 9, 4, 128, 1)"`` -> ``(None, 9, 4, 128, 1)``, as Keras writes a model's shapes."""
    return tuple(None if part.strip() == "batch" else int(part) for part in text.strip("()").split(","))


def _call(expression: str):
    """Evaluate ``build_x(key=literal, ...)`` with the builder of :mod:`rsed.models` and literal keywords only."""
    import rsed.models

    call = ast.parse(expression, mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.args, expression
    return getattr(rsed.models, call.func.id)(**{k.arg: ast.literal_eval(k.value) for k in call.keywords})


def test_readme_library_example_states_the_built_shapes():
    lines = [m for m in map(SHAPE_LINE.search, _library_block().splitlines()) if m]
    if not lines:
        pytest.fail("the README's library example states no 'input (...) -> output (...)' shapes to check")
    for line in lines:
        model = _call(line["call"])
        stated = (_shape(line["input"]), _shape(line["output"]))
        assert stated == (tuple(model.input_shape), tuple(model.output_shape)), f"README: {line.group(0)}"


def _make_demo_commands() -> list[str]:
    """The rsed commands ``make demo`` runs (demo-data then demo), with the Makefile's defaults filled in."""
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    values = {"DEMO": "demo", "RSED": "rsed"}
    values.update(re.findall(r"^(\w+) \?= (.*)$", makefile, flags=re.M))
    values["DEMO"], values["RSED"] = "demo", "rsed"
    commands = []
    for target in ("demo-data", "demo"):
        recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
        assert recipe, f"Makefile has no {target} target"
        for line in recipe.group(1).splitlines():
            commands.append(re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], line.strip()))
    return commands


def test_readme_demo_commands_are_what_make_demo_runs():
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## What the demo runs\s*$(.*?)^## ", text, flags=re.M | re.S)
    assert section, "README.md has no '## What the demo runs' section"
    block = re.search(r"```sh\n(.*?)```", section.group(1), flags=re.S).group(1)
    readme = [re.sub(r"\s+", " ", line.split("#")[0]).strip() for line in block.splitlines() if line.strip()]
    assert readme == [re.sub(r"\s+", " ", c) for c in _make_demo_commands()]
