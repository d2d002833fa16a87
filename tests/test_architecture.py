"""docs/architecture.md kept true: imports point down the layers, no cycles, one COMM_WORLD."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: layer of every module (by dotted-name prefix; the longest prefix wins), bottom = 0.
#: The same table is in docs/architecture.md.
LAYERS = {
    "clusterkit.kernels": 0,
    "clusterkit": 1, "clusterkit.errors": 1, "clusterkit.options": 1, "clusterkit.node": 1,
    "clusterkit.trace_report": 1, "clusterkit.faultinject": 1,
    "clusterkit.threads": 2, "clusterkit.launch": 2, "clusterkit.jobcontrol": 2, "clusterkit.comm": 2,
    "clusterkit.partition": 2, "clusterkit.topology": 2, "clusterkit.halo": 2,
    "clusterkit.grid": 2, "clusterkit.darray": 2, "clusterkit.arith": 2,
    "clusterkit.interop": 2, "clusterkit.collectives": 2,
    "clusterkit.trace": 2, "clusterkit.jit": 2, "clusterkit.log": 2, "clusterkit.memory": 2,
    "clusterkit.io": 3, "clusterkit.slurm": 3, "clusterkit.bench": 3,
    "clusterkit.runtime": 4, "clusterkit.testing": 4,
    "clusterkit.cli": 5, "clusterkit.jobs": 5,
}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("kernels", "jobs"):          # installed as clusterkit.kernels/.jobs
        parts.insert(0, "clusterkit")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for d in ("clusterkit", "kernels", "jobs")
           for p in (ROOT / d).rglob("*.py")}


def _layer(name):
    best = max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len)
    return LAYERS[best]


def _imports(name):
    """clusterkit modules that ``name`` imports anywhere in its body (functions too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names
                         if f"{module}.{a.name}" in MODULES)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def test_the_layer_table_covers_every_module():
    assert all(any(n == k or n.startswith(k + ".") for k in LAYERS) for n in MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_or_sideways(name):
    up = sorted(m for m in GRAPH[name] if _layer(m) > _layer(name))
    assert not up, f"{name} (layer {_layer(name)}) imports upward: {up}"


def test_no_import_cycles():
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(GRAPH[node]):
            if nxt == "clusterkit" or nxt.endswith("__init__"):
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def _touches_comm_world(path):
    return any(isinstance(node, ast.Attribute) and node.attr == "COMM_WORLD" or
               isinstance(node, ast.Name) and node.id == "COMM_WORLD" or
               isinstance(node, ast.alias) and node.name == "COMM_WORLD"
               for node in ast.walk(ast.parse(path.read_text())))


def test_comm_world_is_touched_in_comm_only():
    users = sorted(n for n, p in MODULES.items()
                   if _touches_comm_world(p) and n != "clusterkit.comm")
    assert not users, f"COMM_WORLD outside clusterkit/comm.py: {users}"


def test_kernels_import_nothing_of_clusterkit_but_kernels():
    bad = {n: sorted(m for m in GRAPH[n] if not m.startswith("clusterkit.kernels"))
           for n in MODULES if n.startswith("clusterkit.kernels")}
    assert not {n: m for n, m in bad.items() if m}


def test_the_architecture_page_holds_the_same_table():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for prefix, layer in LAYERS.items():
        short = prefix.replace("clusterkit.", "", 1) if prefix != "clusterkit" else "clusterkit"
        row = re.search(rf"^\| {layer} \|.*`{re.escape(short)}`", text, re.M)
        assert row, f"docs/architecture.md does not list `{short}` in layer {layer}"
