"""The package's import graph: imports go down, never in a circle (function-level imports
included, since they tie modules together as surely as top-level ones)."""
import ast
from pathlib import Path

KD = Path(__file__).parents[1] / "kd"


def module_name(path: Path) -> str:
    parts = path.relative_to(KD.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The kd modules `path` imports, at any depth of its code."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:         # `from . import paths` names a module
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
                elif target in modules:
                    found.add(target)
    return found - {here}


def graph() -> dict[str, set[str]]:
    files = sorted(KD.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_kd():
    edges = graph()
    edges.pop("kd", None)        # the package's __init__ imports the public names of every module
    assert edges["kd.analysis"] >= {"kd.attacks", "kd.runner"}        # the graph is read
    assert cycles(edges) == []


def test_the_core_never_imports_a_study():
    edges = graph()
    top = {"kd", "kd.__main__", "kd.reproduce", "kd.cli"}      # the command line sits above the studies
    core = [m for m in edges if not m.startswith("kd.studies") and m not in top]
    assert {m: sorted(i) for m in core if (i := {t for t in edges[m] if t.startswith("kd.studies")})} == {}
