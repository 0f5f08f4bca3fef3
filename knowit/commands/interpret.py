"""``python -m knowit interpret MODEL [--method ...] [--set ...] [--selection ...] [--size N]``."""
HELP = "attribute a trained model's outputs to its input windows (Captum): npz + heatmaps"


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir
    from knowit.config.options import INTERPRETATION_METHODS as METHODS, SELECTIONS, SETS

    parser.add_argument("model_name", help="a trained model under <exp_dir>/models")
    parser.add_argument("--method", default="IntegratedGradients", help=f"one of: {', '.join(METHODS)} (default: IntegratedGradients)")
    parser.add_argument("--set", dest="set_name", default="valid", help=f"one of: {', '.join(SETS)} (default: valid)")
    parser.add_argument("--selection", default="random", help=f"one of: {', '.join(SELECTIONS)} (default: random)")
    parser.add_argument("--size", type=int, default=100, help="points to explain (default: 100)")
    parser.add_argument("--baseline", default="mean", help="mean (of training inputs) or zeros (default: mean)")
    parser.add_argument("--local", action="store_true", help="local attributions (multiply_by_inputs=False)")
    parser.add_argument("--seed", type=int, default=123)
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    interpreter = {"interpretation_method": ns.method, "interpretation_set": ns.set_name, "selection": ns.selection,
                   "size": ns.size, "baseline": ns.baseline, "multiply_by_inputs": not ns.local, "seed": ns.seed}
    out = KnowIt(ns.exp_dir).interpret_model(ns.model_name, {"interpreter": interpreter}, arch=ns.arch)
    where, value = out.peak()
    print(f"{ns.method} on {len(out.points)} {ns.selection} points of the {ns.set_name} set of {ns.model_name}")
    print(f"largest mean |attribution| at {where}: {value:.4g}")
    print(f"attributions: {out.file}")
    for path in out.plots:
        print(f"plot: {path}")
    return 0
