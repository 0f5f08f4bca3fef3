"""``python -m knowit archs``: the architectures to choose from, or the plugin checks of one."""
HELP = "list the architectures (shipped and in <exp_dir>/archs/), or check one: --check my_arch.py"


def configure(parser) -> None:
    from knowit.commands.common import add_exp_dir

    parser.add_argument("--check", metavar="ARCH", default=None,
                        help="run the plugin checks on a .py file or a dotted module path (this runs its code)")
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit import registry

    if ns.check:
        return _check(ns.check)
    print("shipped architectures (arch=<name>):")
    names = registry.available_archs()
    width = max(len(n) for n in names)
    for name in names:
        print(f"  {name:<{width}}  {registry.description(registry.resolve(name))}")
    user = _user_archs(ns.exp_dir)
    if user:
        print(f"your architectures in {user[0].parent} (arch.name=<path>):")
        for path in user:
            print(f"  {path}")
    return 0


def _user_archs(exp_dir: str | None) -> list:
    """``<exp_dir>/archs/*.py``, listed without running them."""
    import os
    from pathlib import Path

    root = Path(exp_dir or os.environ.get("KNOWIT_EXP_DIR") or "knowit_exp").expanduser().resolve() / "archs"
    return sorted(p for p in root.glob("*.py") if not p.name.startswith("_")) if root.is_dir() else []


def _check(name: str) -> int:
    from knowit import registry
    from knowit.commands.common import fail
    from knowit.plugin_check import check_plugin

    problems = check_plugin(registry.load(name))
    if problems:
        for line in problems:
            print(f"{name}: {line}")
        return fail(f"{name} is not a working knowit architecture ({len(problems)} problem{'s' * (len(problems) > 1)} above)")
    print(f"{name}: a working knowit architecture (ArchArgs, TASKS, Model and a forward for every task checked)")
    return 0
