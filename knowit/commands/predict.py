"""``python -m knowit predict MODEL [--set valid]``: predictions of a trained model, saved as parquet."""
HELP = "predict a set of a trained model; saves <run>/predictions/<set>.parquet (instance, slice, time, target, prediction)"


def configure(parser) -> None:
    from knowit.commands.common import add_arch, add_exp_dir

    parser.add_argument("model_name", help="a trained model under <exp_dir>/models")
    parser.add_argument("--set", dest="set_name", default="valid", help="train, valid or test (default: valid)")
    parser.add_argument("--no-rescale", action="store_true", help="keep targets and predictions in scaled units")
    add_arch(parser)
    add_exp_dir(parser)


def run(ns) -> int:
    from knowit.api import KnowIt

    ki = KnowIt(ns.exp_dir)
    frame = ki.generate_predictions(ns.model_name, {"predictor": {"prediction_set": ns.set_name, "rescale_outputs": not ns.no_rescale}}, arch=ns.arch)
    print(frame.head(10).to_string(index=False))
    print(f"\n{len(frame)} rows saved to {ki.run_dir(ns.model_name) / 'predictions' / f'{ns.set_name}.parquet'}")
    return 0
