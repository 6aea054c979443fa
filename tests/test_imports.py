"""The import rules of DESIGN.md, checked by parsing every module of the package."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rnnkit"

# module prefix -> rnnkit packages it must never import
FORBIDDEN = {
    "rnnkit.state": ["rnnkit."],
    "rnnkit.batch": ["rnnkit."],
    "rnnkit.nn": ["rnnkit.data", "rnnkit.models", "rnnkit.train", "rnnkit.decode", "rnnkit.pipeline",
                  "rnnkit.cli", "rnnkit.serve", "rnnkit.bench", "rnnkit.checkpoint"],
    "rnnkit.data": ["rnnkit.models", "rnnkit.train", "rnnkit.cli", "rnnkit.serve", "rnnkit.pipeline"],
    "rnnkit.models": ["rnnkit.data", "rnnkit.train", "rnnkit.cli", "rnnkit.serve", "rnnkit.pipeline"],
    "rnnkit.decode": ["rnnkit.nn", "rnnkit.data", "rnnkit.models", "rnnkit.train", "rnnkit.cli",
                      "rnnkit.serve", "rnnkit.pipeline"],
    "rnnkit.train": ["rnnkit.cli", "rnnkit.serve", "rnnkit.pipeline"],
}
ALLOWED_IN_STATE = {"rnnkit.state"}
# Task packages, which only the registry names: the CLI, the server, the page, export, the pipeline and the
# generic benchmarks reach a task through ``rnnkit.registry`` and the contract in ``rnnkit.tasks.base``
TASK_PACKAGES = ["rnnkit.tasks.lm", "rnnkit.tasks.classify", "rnnkit.tasks.seq2seq", "rnnkit.tasks.music",
                 "rnnkit.tasks.memory"]
FORBIDDEN.update({
    "rnnkit.cli": TASK_PACKAGES,
    "rnnkit.cli_use": TASK_PACKAGES,
    "rnnkit.pipeline": TASK_PACKAGES + ["rnnkit.serve", "rnnkit.cli"],
    "rnnkit.export": TASK_PACKAGES + ["rnnkit.serve", "rnnkit.cli"],
    "rnnkit.serve": TASK_PACKAGES + ["rnnkit.cli", "rnnkit.bench", "rnnkit.train", "rnnkit.data", "rnnkit.models"],
    "rnnkit.bench.quality": TASK_PACKAGES,
    "rnnkit.bench.common": TASK_PACKAGES,
    "rnnkit.tasks": ["rnnkit.cli", "rnnkit.bench.quality", "rnnkit.pipeline"],
    "rnnkit.autocomplete": ["rnnkit.train", "rnnkit.tasks", "rnnkit.serve", "rnnkit.cli", "rnnkit.pipeline",
                            "rnnkit.bench"],
})


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_imports_point_down_the_layers():
    problems = []
    for path in SRC.rglob("*.py"):
        mod = module_name(path)
        for prefix, banned in FORBIDDEN.items():
            if mod != prefix and not mod.startswith(prefix + "."):
                continue
            for name in imports(path):
                if name in ALLOWED_IN_STATE and prefix != "rnnkit.state":
                    continue
                if any(name == b.rstrip(".") or name.startswith(b if b.endswith(".") else b + ".") or name == b
                       for b in banned):
                    problems.append(f"{mod} imports {name}")
    assert not problems, "\n".join(problems)


def test_the_task_packages_are_all_listed():
    packages = {f"rnnkit.tasks.{p.name}" for p in (SRC / "tasks").iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(TASK_PACKAGES)


def test_state_imports_only_torch():
    for name in imports(SRC / "state.py"):
        assert name.split(".")[0] in {"torch", "__future__", "collections", "typing"}, name
