"""The ``ecgsignal`` command line: data, train, attribute, experiment, book, coverage, bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgsignal.errors import ECGSignalError


def _profile_arg(p: argparse.ArgumentParser, default: str = "book") -> None:
    p.add_argument("--profile", default=default,
                   help=f"named profile: smoke, book or full, or a YAML file (default: {default})")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: profile's)")
    p.add_argument("--cache-dir", default=None,
                   help="cache folder (default: $ECGSIGNAL_CACHE or .cache/ecgsignal)")
    _data_args(p, with_source=True)


def _data_args(p: argparse.ArgumentParser, with_source: bool) -> None:
    """How a user's own data are stored (the profile fields of the same names)."""
    g = p.add_argument_group("your own data (dataset arrays / records; default: the profile's)")
    if with_source:
        g.add_argument("--dataset", default=None, help="synthetic, ptbxl, ptbxlplus, arrays or records")
        g.add_argument("--data-root", default=None, help="signal file or folder of your data")
        g.add_argument("--labels", default=None, help="labels CSV (default: labels.csv beside the data)")
    g.add_argument("--lead-order", default=None,
                   help="stored lead names in storage order, comma-separated, e.g. I,II,V1,V2,V3,V4,V5,V6")
    g.add_argument("--unit", default=None, help="unit of the stored values: mV, uV or V")
    g.add_argument("--layout", default=None, help="NCT (n, leads, T) or NTC (n, T, leads)")
    g.add_argument("--stored-fs", type=float, default=None, help="rate the data are stored at, Hz")
    g.add_argument("--key", default=None, help="array name inside a .npz / HDF5 file (default: signals)")
    g.add_argument("--label-column", default=None, help="labels CSV column of class names (default: label)")
    g.add_argument("--multilabel-columns", default=None, help="or 0/1 columns, one per class, comma-separated")
    g.add_argument("--records-format", default=None, help="records: wfdb, npy or csv (default: found)")
    if with_source:
        g.add_argument("--n-jobs", type=int, default=None, help="worker processes of median extraction")


_DATA_FIELDS = ("dataset", "data_root", "labels", "lead_order", "unit", "layout", "stored_fs", "key",
                "label_column", "multilabel_columns", "records_format", "n_jobs")


def _load(args: argparse.Namespace, **overrides):
    from ecgsignal.run.profiles import load_profile

    data = {k: getattr(args, k, None) for k in _DATA_FIELDS}
    return load_profile(args.profile, device=getattr(args, "device", None), **data, **overrides)


# --------------------------------------------------------------------------- data
def cmd_data_synth(args: argparse.Namespace) -> int:
    from ecgsignal.data.leads import LEAD_NAMES
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic
    from ecgsignal.io import save_npz

    if args.n < 1:
        raise SystemExit("error: --n must be at least 1")
    t0 = time.perf_counter()
    ds = make_synthetic(SyntheticConfig(n=args.n, fs=args.fs, seed=args.seed, difficulty=args.difficulty))
    seconds = time.perf_counter() - t0
    save_npz(args.out, {
        "X": ds.signals, "y": ds.labels, "diff_mask": ds.diff_mask,
        "criteria_mask": ds.criteria_mask, "split": ds.split, "label_flipped": ds.label_flipped,
        "class_names": np.array(ds.class_names), "lead_names": np.array(LEAD_NAMES),
        "fs": np.array(ds.fs),
    }, compress=True)
    print(f"wrote {ds.n} beats ({ds.n_samples} samples at {ds.fs:g} Hz, 12 leads) to {args.out} "
          f"in {seconds:.2f} s")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from ecgsignal.data.check import check_data
    from ecgsignal.run.profiles import LAYOUTS, RECORD_FORMATS, _split_names

    if args.layout is not None and args.layout not in LAYOUTS:
        raise SystemExit(f"error: --layout must be one of {', '.join(LAYOUTS)}, got {args.layout!r}")
    if args.records_format is not None and args.records_format not in RECORD_FORMATS:
        raise SystemExit(f"error: --records-format must be one of {', '.join(RECORD_FORMATS)}, "
                         f"got {args.records_format!r}")
    rep = check_data(
        args.path, args.labels, dataset=args.dataset,
        lead_order=None if args.lead_order is None else _split_names(args.lead_order),
        unit=args.unit, layout=args.layout, stored_fs=args.stored_fs, key=args.key,
        records_format=args.records_format, label_column=args.label_column,
        multilabel_columns=None if args.multilabel_columns is None else _split_names(args.multilabel_columns),
        class_names=None if args.class_names is None else _split_names(args.class_names),
        max_records=args.max_records)
    print(json.dumps(rep.to_json(), indent=1) if args.json else rep.text())
    return 0 if rep.ok else 1


# --------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from ecgsignal.run.pipeline import build_context

    prof = _load(args)
    ctx = build_context(prof, cache_dir=args.cache_dir, progress=not args.json)
    tm = ctx.trained(args.seed)
    if args.json:
        print(json.dumps({"auroc": tm.auroc, "checkpoint": str(tm.checkpoint),
                          "seconds": tm.seconds, "from_cache": tm.from_cache, "seed": args.seed,
                          "profile": prof.name}))
    else:
        src = "loaded from cache" if tm.from_cache else f"trained in {tm.seconds:.1f} s"
        print(f"model seed {args.seed} ({src}); checkpoint {tm.checkpoint}")
        print("test AUROC per class:")
        for c, v in tm.auroc.items():
            print(f"  {c:<6} {v:.4f}")
    return 0


# --------------------------------------------------------------------------- masks
def cmd_masks(args: argparse.Namespace) -> int:
    from ecgsignal.evaluation.necessity import mask_necessity
    from ecgsignal.run.pipeline import build_context

    prof = _load(args)
    if prof.dataset != "synthetic":
        raise SystemExit(f"error: the necessity check needs the synthetic data's counterfactuals, "
                         f"not dataset={prof.dataset!r}")
    ctx = build_context(prof, cache_dir=args.cache_dir, progress=not args.json)
    seed = prof.seeds[0] if args.seed is None else args.seed
    res = mask_necessity(ctx.model(seed), ctx.dataset, seed=prof.seed)
    if args.json:
        print(json.dumps({c: {k: v[k] for k in ("mask_drop", "control_drop", "flipped", "n")}
                          for c, v in res.items()}))
    else:
        print(f"necessity of the difference masks, model seed {seed}, profile {prof.name}: median drop of "
              "p(class) when the mask / an equal-size control region is made counterfactual")
        print(f"  {'class':<6} {'mask':>6} {'control':>8} {'flipped':>8} {'n':>4}")
        for c, v in res.items():
            print(f"  {c:<6} {v['mask_drop']:6.3f} {v['control_drop']:8.3f} {v['flipped']:8.2f} {v['n']:4d}")
    return 0


# --------------------------------------------------------------------------- attribute
def cmd_attribute(args: argparse.Namespace) -> int:
    from ecgsignal.attribution import attribute, resolve_methods
    from ecgsignal.io import save_npz
    from ecgsignal.run.pipeline import build_context

    methods = resolve_methods(args.methods)  # unknown names fail here with the valid list
    prof = _load(args)
    ctx = build_context(prof, cache_dir=args.cache_dir, progress=True)
    ds = ctx.dataset
    test = ds.indices("test")
    if args.n < 1:
        raise SystemExit("error: --n must be at least 1")
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(test, size=min(args.n, len(test)), replace=False))
    x = ds.signals[idx]
    target = ds.labels[idx] if not ds.multilabel else ds.labels[idx].argmax(1)
    model = ctx.model(args.model_seed)
    out: dict[str, np.ndarray] = {"X": x, "target": target, "index": idx,
                                  "class_names": np.array(ds.class_names)}
    from tqdm.auto import tqdm

    timings = {}
    for m in tqdm(methods, desc="methods", unit="method"):
        t0 = time.perf_counter()
        out[m] = attribute(model, x, target, m, seed=args.seed, baselines=ctx.baselines,
                           device=ctx.device, fs=ds.fs)
        timings[m] = time.perf_counter() - t0
    save_npz(args.out, out, compress=True)
    print(f"wrote {len(methods)} attribution arrays of shape {x.shape} to {args.out}")
    for m, s in timings.items():
        print(f"  {m:<22} {s:7.2f} s")
    return 0


# --------------------------------------------------------------------------- experiment
def cmd_experiment(args: argparse.Namespace) -> int:
    from ecgsignal.evaluation.experiments import EXPERIMENTS, run_experiment
    from ecgsignal.run.pipeline import build_context, experiment_params

    EXPERIMENTS.get(args.name)
    prof = _load(args, seed=args.seed)
    ctx = build_context(prof, cache_dir=args.cache_dir, progress=True)
    t0 = time.perf_counter()
    df = run_experiment(args.name, ctx, out_dir=args.out, params=experiment_params(prof, args.name),
                        force=args.force)
    print(f"{args.name}: {len(df)} rows in {time.perf_counter() - t0:.1f} s -> "
          f"{Path(args.out) / args.name}")
    return 0


# --------------------------------------------------------------------------- book
def cmd_book_run(args: argparse.Namespace) -> int:
    from ecgsignal.run.book import run_book

    run_book(args.profile, only=args.only, jobs=args.jobs, force=args.force)
    return 0


def cmd_book_build(args: argparse.Namespace) -> int:
    from ecgsignal.run.book import build_book

    index = build_book()
    print(f"site: {index}")
    return 0


# --------------------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> int:
    from ecgsignal.run.bench import main as bench_main

    return bench_main(args)


# --------------------------------------------------------------------------- coverage
def cmd_coverage(args: argparse.Namespace) -> int:
    from ecgsignal.evaluation.coverage import coverage_table, run_coverage

    res = run_coverage(n_sim=args.n_sim, n_boot=args.n_boot, seed=args.seed)
    if args.json:
        print(json.dumps(res))
        return 0
    table = coverage_table(res)
    print(f"coverage of nominal 95 % intervals, {args.n_sim} simulations, B = {args.n_boot}")
    for row in table.itertuples(index=False):
        ok = "ok " if 0.90 <= row.coverage <= 0.98 else "OUT"
        print(f"  {ok} {row.design:<22} {row.routine:<18} {row.coverage:6.3f}  "
              f"width {row.mean_width:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecgsignal",
        description="Sanity checks for attribution methods on ECG CNNs (Arends et al. 2026).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="make or inspect datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    synth = dsub.add_parser("synth", help="write synthetic median beats with masks to an .npz")
    synth.add_argument("--n", type=int, default=900, help="number of beats (default 900)")
    synth.add_argument("--fs", type=float, default=250.0, help="sampling rate in Hz (default 250)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--difficulty", choices=("realistic", "easy"), default="realistic",
                       help="realistic (default): overlapping classes, EMG noise, label noise; "
                            "easy: well-separated teaching data")
    synth.add_argument("--out", required=True, help="output .npz file")
    synth.set_defaults(func=cmd_data_synth)
    check = dsub.add_parser("check", help="read your file or folder as the loaders will and report problems",
                            description="Reads PATH as dataset arrays or records would and reports shape, "
                                        "leads, rate, unit guess, NaN/flat/saturated leads, labels per class "
                                        "and the first problem with its fix. Exit status 1 when a problem "
                                        "is found, 0 otherwise.")
    check.add_argument("path", help="signal file (.npy/.npz/.h5), or a folder of records")
    check.add_argument("--labels", default=None, help="labels CSV (default: labels.csv beside the data)")
    check.add_argument("--dataset", default=None, choices=("arrays", "records"),
                       help="how to read PATH (default: a file or one-array folder is arrays, else records)")
    _data_args(check, with_source=False)
    check.add_argument("--class-names", default=None,
                       help="expected class names, comma-separated: other labels are reported as unknown")
    check.add_argument("--max-records", type=int, default=None, help="read at most this many records")
    check.add_argument("--json", action="store_true",
                       help='print {"n", "leads", "fs", "unit", "classes", "problems"} as JSON')
    check.set_defaults(func=cmd_data_check)

    train = sub.add_parser("train", help="train (or load from cache) one seeded model")
    train.add_argument("--seed", type=int, default=0, help="model seed (default 0)")
    _profile_arg(train)
    train.add_argument("--json", action="store_true",
                       help="print one JSON object: auroc, checkpoint, seconds")
    train.set_defaults(func=cmd_train)

    masks = sub.add_parser("masks", help="necessity check: does the model need its ground-truth masks?")
    masks.add_argument("--seed", type=int, default=None, help="model seed (default: profile's first)")
    _profile_arg(masks)
    masks.add_argument("--json", action="store_true",
                       help='print {class: {"mask_drop", "control_drop", "flipped", "n"}}')
    masks.set_defaults(func=cmd_masks)

    attr = sub.add_parser("attribute", help="attribution maps of test beats, one array per method")
    attr.add_argument("--methods", default="all", help="all, or comma-separated method names")
    attr.add_argument("--n", type=int, default=100, help="number of test beats (default 100)")
    attr.add_argument("--seed", type=int, default=0, help="seed of beat choice and methods")
    attr.add_argument("--model-seed", type=int, default=None, help="model seed (default: profile's first)")
    attr.add_argument("--out", required=True, help="output .npz file")
    _profile_arg(attr)
    attr.set_defaults(func=cmd_attribute)

    exp = sub.add_parser("experiment", help="run one of the experiments")
    exp.add_argument("name", help="similarity, consistency, randomization, perturbation, localization, "
                     "counterfactual, interpretable")
    _profile_arg(exp)
    exp.add_argument("--out", default="results", help="output folder (default: results)")
    exp.add_argument("--seed", type=int, default=None, help="seed of sampling and bootstrap")
    exp.add_argument("--force", action="store_true", help="recompute even if results exist")
    exp.set_defaults(func=cmd_experiment)

    book = sub.add_parser("book", help="run the chapters (papermill) and build the site")
    bsub = book.add_subparsers(dest="book_command", required=True, metavar="ACTION")
    brun = bsub.add_parser("run", help="execute the chapter notebooks with a profile")
    brun.add_argument("--profile", default="book", help="smoke, book or full (default: book)")
    brun.add_argument("--only", default=None, help="run only this chapter (notebook name)")
    brun.add_argument("--jobs", type=int, default=None,
                      help="chapters run at once, each in its own kernel (default: 2 on a "
                           "machine with two or more cores, or $ECGSIGNAL_BOOK_JOBS)")
    brun.add_argument("--force", action="store_true",
                      help="run chapters whose executed copy is up to date too")
    brun.set_defaults(func=cmd_book_run)
    bbuild = bsub.add_parser("build", help="build the static site with Jupyter Book (no execution)")
    bbuild.set_defaults(func=cmd_book_build)

    cov = sub.add_parser("coverage", help="measured coverage of every CI routine on simulated data")
    cov.add_argument("--n-sim", type=int, default=200, help="simulations per design (default 200)")
    cov.add_argument("--n-boot", type=int, default=200,
                     help="bootstrap resamples per interval (default 200)")
    cov.add_argument("--seed", type=int, default=0, help="seed of the simulations (default 0)")
    cov.add_argument("--json", action="store_true", help="print the results as JSON")
    cov.set_defaults(func=cmd_coverage)

    bench = sub.add_parser("bench", help="side-by-side speed ratios (see the Performance appendix)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--quick", action="store_true", help="fewer beats and repeats")
    bench.add_argument("--device", default="cpu", help="torch device (default cpu)")
    bench.add_argument("--out", default=None,
                       help="write the JSON results here (default: results/bench.json)")
    bench.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads (default: torch's choice)")
    bench.add_argument("--beats", type=int, default=None,
                       help="beats of the engine comparisons (default 256, --quick 32)")
    bench.add_argument("--repeats", type=int, default=None,
                       help="timed rounds per case, median reported (default 3, minimum 3)")
    bench.add_argument("--sections", default=None,
                       help="comma-separated subset of engine,efficiency,randomization,"
                            "threads,conv,generator,chapters")
    bench.add_argument("--profile", default=None,
                       help="profile whose chapter timing logs the 'chapters' section reads "
                            "(default book)")
    bench.add_argument("--methods", default=None,
                       help="comma-separated methods of the engine comparison (default: the 12)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ECGSignalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
