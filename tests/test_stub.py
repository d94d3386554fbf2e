"""src/fastwsgi/_core.pyi must describe the compiled fastwsgi._core exactly (public names, both directions)."""
import ast
import inspect
import os
import types

import pytest

from fastwsgi import _core as core

STUB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "fastwsgi", "_core.pyi")


def _stub():
    with open(STUB) as f:
        tree = ast.parse(f.read())
    names, classes = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            classes[node.name] = {m for m in members if not m.startswith("_")}
    return {n for n in names if not n.startswith("_")}, classes


def _defined_here(obj):
    """Public API of the module: what it defines, not modules or names it imported."""
    if isinstance(obj, types.ModuleType):
        return False
    module = getattr(obj, "__module__", None) if (inspect.isclass(obj) or callable(obj)) else core.__name__
    return module == core.__name__


def test_stub_module_names_match():
    stub_names, _ = _stub()
    real = {n for n in dir(core) if not n.startswith("_") and _defined_here(getattr(core, n))}
    missing, undocumented = sorted(stub_names - real), sorted(real - stub_names)
    assert not missing, f"in the stub but not in fastwsgi._core: {missing}"
    assert not undocumented, f"public in fastwsgi._core but not in the stub (add or make _private): {undocumented}"


def test_stub_class_members_match():
    _, classes = _stub()
    for name, members in classes.items():
        cls = getattr(core, name, None)
        if cls is None:
            continue  # reported by test_stub_module_names_match
        real = {m for m in dir(cls) if not m.startswith("_")}
        missing, undocumented = sorted(members - real), sorted(real - members)
        assert not missing, f"{name}: in the stub but not on the class: {missing}"
        assert not undocumented, f"{name}: public on the class but not in the stub: {undocumented}"


def test_stub_loop_options_match_the_loop():
    """Loop's keyword-only options in the stub: the same names and defaults as the compiled Loop, whose settings
    come from the settings registry."""
    with open(STUB) as f:
        tree = ast.parse(f.read())
    loop = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Loop")
    init = next(n for n in loop.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    stub = {arg.arg: ast.literal_eval(default) for arg, default in zip(init.args.kwonlyargs, init.args.kw_defaults)}
    assert stub == core.loop_defaults()


def test_loop_settings_reach_the_loop():
    from fastwsgi.settings import LOOP_SETTINGS

    defaults = core.loop_defaults()
    for setting in LOOP_SETTINGS:
        assert defaults[setting.name] == setting.default, setting.name
    with pytest.raises(TypeError, match="unknown Loop option"):
        core.Loop(None, [], keep_alive=3)
