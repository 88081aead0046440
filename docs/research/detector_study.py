"""Issue 16, second pass: other detectors, thresholds and selection rules, by leave-one-family-out.

Run from the repository root (a few minutes; `nice -n 10` on a shared machine):

    .venv/bin/python docs/research/detector_study.py --data data/skab

Same protocol as docs/research/family_study.py (calibrate on the first 400 readings of each
file, score causally, threshold = factor x the largest calibration score after the warm-up),
with more candidate detectors behind the same post-processing (score window, hold, factor)
and more selection rules.  Every figure printed as "held out" was obtained by choosing the
whole setting (detector included) on two families and applying it to the third; "all 25"
is the setting the same rule picks on every shipped file (what would become the default).

Candidates (`--kinds`): pca (the product's PcaT2QDetector grid), t2 (Hotelling T-squared:
all components), t2q-max (max of the normalised T-squared and Q instead of their mean),
lof (LocalOutlierFactor(novelty=True) on trailing mean+std), lof-mean (the same on trailing
means), ens (mean or max of lof and t2, each divided by its largest calibration score),
ens-mean (mean of lof-mean and t2, likewise).  Rules: pooled, mean-family, worst,
worst-far (see `objective`), each with a FAR bound of 10, 10.8 (the shipped files' FAR
today), 12, 15 and 20%.  `--quantiles 1,0.99,0.95` also offers thresholds relative to
calibration quantiles.  Results and what they mean: docs/detector.md.
"""

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import RobustScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from family_study import (  # noqa: E402
    CALIBRATION, FAMILIES, load_files, raw_scores, rates)
from features.detector import PcaT2QDetector, trailing_argmax, trailing_mean  # noqa: E402

BOUNDS = (0.10, 0.108, 0.12, 0.15, 0.20)  # 0.108: the shipped files' FAR today
SCORE_WINDOWS = [1, 5, 10, 30]
HOLDS = [1, 20, 40, 60]
FACTORS = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0]
PCA_MODELS = [{"kind": "pca", "input_window": w, "variance": v, "trim_fraction": t}
              for w, v, t in itertools.product([1, 5, 10, 20, 30], [0.9, 0.99, 8], [0.0, 0.1])]
MAX_MODELS = [{"kind": "t2q-max", "input_window": w, "variance": v, "trim_fraction": t}
              for w, v, t in itertools.product([1, 5, 10, 20, 30], [0.9, 0.99], [0.0, 0.1])]
LOF_MODELS = [{"kind": "lof", "input_window": w, "neighbours": k}
              for w, k in itertools.product([5, 10, 20, 30], [10, 20, 50])]
ENSEMBLE_MODELS = [{"kind": "ens", "input_window": max(a, b), "lof_window": a, "neighbours": k,
                    "t2_window": b, "combine": c}
                   for a, k, b, c in itertools.product([10, 20], [10, 20], [10, 20],
                                                        ["max", "mean"])]
ENSEMBLE_MEAN_MODELS = [{"kind": "ens-mean", "input_window": max(a, b), "lof_window": a,
                         "neighbours": k, "t2_window": b, "combine": "mean"}
                        for a, k, b in itertools.product([10, 20], [20, 50], [10, 20])]
LOF_FEATURES = [{"kind": "lof-mean", "input_window": w, "neighbours": k}
                for w, k in itertools.product([5, 10, 20, 30], [10, 20, 50])]
HOTELLING_MODELS = [{"kind": "t2", "input_window": w, "trim_fraction": t}
                    for w, t in itertools.product([1, 5, 10, 20, 30], [0.0, 0.1])]


def mean_std(values, window):
    """Trailing mean and trailing standard deviation of each column (causal)."""
    mean = trailing_mean(values, window)
    spread = np.sqrt(np.maximum(trailing_mean(values ** 2, window) - mean ** 2, 0.0))
    return np.hstack([mean, spread])


def scaled_inputs(frame, window, features="mean"):
    values = frame.to_numpy(float)
    inputs = trailing_mean(values, window) if features == "mean" else mean_std(values, window)
    return RobustScaler().fit(inputs[:CALIBRATION]).transform(inputs)


def lof_scores(frame, model):
    """LocalOutlierFactor(novelty=True) on mean+std features; 0 = as dense as calibration."""
    inputs = scaled_inputs(frame, model["input_window"], "mean+std")
    lof = LocalOutlierFactor(n_neighbors=model["neighbours"], novelty=True)
    lof.fit(inputs[:CALIBRATION])
    # Calibration readings are scored as new points too (each counts itself as a neighbour,
    # which is what novelty scoring of training points does: slightly optimistic).
    return np.maximum(-lof.score_samples(inputs) - 1.0, 0.0)


def t2q_max_scores(frame, model):
    """max(T2 / t2_limit, Q / q_limit) instead of their mean."""
    inputs = scaled_inputs(frame, model["input_window"])
    detector = PcaT2QDetector(model["variance"], trim_fraction=model["trim_fraction"],
                              explanation="partial").fit(inputs[:CALIBRATION])
    t2, q = detector._statistics(inputs)
    return np.maximum(t2.sum(1) / detector.t2_limit_, q.sum(1) / detector.q_limit_)


_RAW = {}


def normalised(frame, model, warm_up):
    """Raw scores divided by their largest calibration value after the warm-up (cached)."""
    key = (id(frame), tuple(sorted(model.items())))
    if key not in _RAW:
        raw = candidate_scores(frame, model)
        _RAW[key] = raw / max(raw[warm_up:CALIBRATION].max(), 1e-12)
    return _RAW[key]


def ensemble_scores(frame, model):
    """Max or mean of LOF and Hotelling T-squared, each scaled by its calibration maximum."""
    lof_kind = "lof-mean" if model["kind"] == "ens-mean" else "lof"
    lof = normalised(frame, {"kind": lof_kind, "input_window": model["lof_window"],
                             "neighbours": model["neighbours"]}, model["lof_window"] - 1)
    t2 = normalised(frame, {"kind": "t2", "input_window": model["t2_window"],
                            "trim_fraction": 0.1}, model["t2_window"] - 1)
    both = np.stack([lof, t2])
    return both.max(0) if model["combine"] == "max" else both.mean(0)


def candidate_scores(frame, model):
    kind = model["kind"]
    if kind in ("ens", "ens-mean"):
        return ensemble_scores(frame, model)
    if kind == "lof-mean":
        inputs = scaled_inputs(frame, model["input_window"])
        lof = LocalOutlierFactor(n_neighbors=model["neighbours"], novelty=True)
        lof.fit(inputs[:CALIBRATION])
        return np.maximum(-lof.score_samples(inputs) - 1.0, 0.0)
    if kind == "pca":
        return raw_scores(frame, {k: model[k] for k in ("input_window", "variance",
                                                        "trim_fraction")})
    if kind == "t2":
        return raw_scores(frame, {"input_window": model["input_window"], "variance": 8,
                                  "trim_fraction": model["trim_fraction"]})
    if kind == "t2q-max":
        return t2q_max_scores(frame, model)
    return lof_scores(frame, model)


QUANTILES = [1.0]


def counts_for(raw, labels, input_window, score_window, hold):
    """(len(QUANTILES) * len(FACTORS), 4) counts TP FP FN TN after the calibration readings."""
    smoothed = trailing_mean(raw, score_window)
    held = smoothed[trailing_argmax(smoothed, hold)]
    warm_up = input_window - 1 + score_window - 1 + hold - 1
    calibration = held[min(warm_up, CALIBRATION - 1):CALIBRATION]
    bases = np.maximum(np.quantile(calibration, QUANTILES), 1e-12)
    scored, truth = held[CALIBRATION:], labels[CALIBRATION:] == 1
    limits = (bases[:, None] * np.array(FACTORS)[None, :]).ravel()
    flags = scored[None, :] > limits[:, None]
    return np.stack([(flags & truth).sum(1), (flags & ~truth).sum(1),
                     (~flags & truth).sum(1), (~flags & ~truth).sum(1)], axis=1)


def all_counts(files, models):
    settings, blocks = [], []
    for model in models:
        per_file = []
        for _, frame, labels in files:
            raw = candidate_scores(frame, model)
            per_file.append(np.stack([counts_for(raw, labels, model["input_window"], s, h)
                                      for s, h in itertools.product(SCORE_WINDOWS, HOLDS)]))
        blocks.append(np.stack(per_file, axis=2).reshape(-1, len(files), 4))
        for s, h, q, f in itertools.product(SCORE_WINDOWS, HOLDS, QUANTILES, FACTORS):
            settings.append({**model, "score_window": s, "hold_window": h,
                             "threshold_quantile": q, "threshold_factor": f})
    return settings, np.concatenate(blocks)


def knobs(setting):
    """Windows a setting uses, plus one for a quantile threshold (ties go to fewer)."""
    return (sum(setting.get(k, 1) > 1 for k in ("input_window", "score_window", "hold_window"))
            + (setting.get("threshold_quantile", 1.0) < 1.0))


def objective(counts, files, member_sets, rule, far_bound):
    """Value of every setting on the training files under `rule` (higher is better).

    pooled: pooled F1, pooled FAR <= far_bound.  mean-family / worst: mean or smallest of the
    training families' F1, pooled FAR <= far_bound.  worst-far: smallest family F1, every
    training family's FAR <= far_bound.  Settings over the bound rank below all others, the
    lowest FAR first.
    """
    f1, far, _ = rates(counts[:, files].sum(axis=1))
    family = [rates(counts[:, m].sum(axis=1)) for m in member_sets]
    family_f1 = np.stack([r[0] for r in family])
    family_far = np.stack([r[1] for r in family])
    value = {"pooled": f1, "mean-family": family_f1.mean(0)}.get(rule, family_f1.min(0))
    allowed = family_far.max(0) <= far_bound if rule == "worst-far" else far <= far_bound
    return np.where(allowed, value, -1.0 - far)


def select(counts, names, train_families, rule, far_bound, order):
    members = [np.array([FAMILIES[f](n) for n in names]) for f in train_families]
    files = np.flatnonzero(np.any(members, axis=0))
    value = objective(counts, files, members, rule, far_bound)
    # Stable among equals: `order` lists settings simplest first.
    return int(order[np.argmax(value[order])])


def lofo(counts, names, rule, far_bound, order):
    held = np.zeros((len(names), 4), dtype=np.int64)
    chosen = {}
    for family, member in FAMILIES.items():
        test = np.array([member(n) for n in names])
        best = select(counts, names, [f for f in FAMILIES if f != family], rule, far_bound,
                      order)
        held[test] = counts[best, test]
        chosen[family] = (best, rates(counts[best, test].sum(0)))
    return rates(held.sum(0)), chosen


def describe(s):
    parts = [s["kind"], f"in {s['input_window']}"]
    if "combine" in s:
        lof = "lof-mean" if s["kind"] == "ens-mean" else "lof"
        parts = [f"{s['combine']}({lof} in {s['lof_window']}, t2 in {s['t2_window']})"]
    if "variance" in s:
        parts.append(f"var {'all' if s['variance'] >= 1 else s['variance']}")
    if "trim_fraction" in s:
        parts.append(f"trim {s['trim_fraction']}")
    if "neighbours" in s:
        parts.append(f"k {s['neighbours']}")
    parts += [f"score {s['score_window']}", f"hold {s['hold_window']}",
              f"{s['threshold_factor']:g} x "
              + ("max" if s.get("threshold_quantile", 1.0) == 1.0
                 else f"q{s['threshold_quantile']:g}")]
    return ", ".join(parts)


def fmt(r):
    return f"F1 {float(r[0]):.3f} FAR {float(r[1]):.1%} MAR {float(r[2]):.1%}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/skab")
    parser.add_argument("--kinds", default="pca,t2,t2q-max,lof,lof-mean,ens,ens-mean")
    parser.add_argument("--quantiles", default="1",
                        help="Calibration score quantiles the factor multiplies, e.g. 1,0.99,0.95")
    parser.add_argument("--cache", default=None, help="npz file to keep the counts in")
    args = parser.parse_args()
    QUANTILES[:] = [float(q) for q in args.quantiles.split(",")]
    started = time.time()
    files = load_files(args.data)
    names = [n for n, _, _ in files]
    pools = {"pca": PCA_MODELS, "t2": HOTELLING_MODELS, "t2q-max": MAX_MODELS, "lof": LOF_MODELS,
             "ens": ENSEMBLE_MODELS, "ens-mean": ENSEMBLE_MEAN_MODELS, "lof-mean": LOF_FEATURES}
    kinds = args.kinds.split(",")
    settings, counts = [], []
    for kind in kinds:
        cache = Path(f"{args.cache}.{kind}.npz") if args.cache else None
        if cache and cache.exists():
            block = np.load(cache, allow_pickle=True)
            s, c = list(block["settings"]), block["counts"]
        else:
            s, c = all_counts(files, pools[kind])
            if cache:
                np.savez(cache, settings=np.array(s, dtype=object), counts=c)
        settings += s
        counts.append(c)
        print(f"{kind}: {len(s)} settings ({time.time() - started:.0f} s)", flush=True)
    counts = np.concatenate(counts)
    kind_sets = [[k] for k in kinds] + ([kinds] if len(kinds) > 1 else [])
    for kind_set in kind_sets:
        subset = np.flatnonzero([s["kind"] in kind_set for s in settings])
        sub_order = np.array(sorted(range(len(subset)), key=lambda i: knobs(settings[subset[i]])))
        for rule, bound in itertools.product(("pooled", "mean-family", "worst", "worst-far"),
                                             BOUNDS):
            held, chosen = lofo(counts[subset], names, rule, bound, sub_order)
            final = subset[select(counts[subset], names, list(FAMILIES), rule, bound,
                                  sub_order)]
            per = "; ".join(f"{f} {float(r[0]):.2f}/{float(r[1]):.0%}"
                            for f, (_, r) in chosen.items())
            print(f"{'+'.join(kind_set):<22} {rule:<11} FAR<={bound:.1%}: held out "
                  f"{fmt(held)} [{per}] | all 25: {describe(settings[final])}: "
                  f"{fmt(rates(counts[final].sum(0)))}", flush=True)
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
