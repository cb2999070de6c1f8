#!/usr/bin/env python3
"""Compare the exporter's isolation forest with scikit-learn's.

Runs the Go test that writes a labelled dataset with the Go forest's scores
and timings (detect/model/iforest_compare_test.go), fits scikit-learn's
IsolationForest with the same n_estimators and max_samples on the same rows,
and prints the ROC AUC and the train and score times of both, and how
closely the scores agree.

Needs numpy and scikit-learn, e.g. in a virtualenv:
    python3 -m venv /tmp/iforest-venv
    /tmp/iforest-venv/bin/pip install scikit-learn
    /tmp/iforest-venv/bin/python scripts/iforest_compare.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def run_go_export(repo, out_dir):
    env = dict(os.environ, IFOREST_COMPARE_DIR=out_dir)
    subprocess.run(
        ["go", "test", "-count=1", "-run", "^TestExportForestComparison$", "./detect/model/"],
        cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL,
    )


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="use a dataset already exported there instead of running the Go test")
    ap.add_argument("--n-estimators", type=int, default=100)
    ap.add_argument("--max-samples", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    out_dir = args.dir or tempfile.mkdtemp(prefix="iforest-compare-")
    if not args.dir:
        run_go_export(repo, out_dir)
    data = np.genfromtxt(os.path.join(out_dir, "dataset.csv"), delimiter=",", names=True)
    with open(os.path.join(out_dir, "go_timings.json")) as f:
        go = json.load(f)
    features = [n for n in data.dtype.names if n.startswith("f")]
    x = np.column_stack([data[n] for n in features])
    y = data["label"].astype(int)

    forest = IsolationForest(n_estimators=args.n_estimators, max_samples=args.max_samples, random_state=args.seed)
    fits = []
    for _ in range(5):
        start = time.perf_counter()
        forest.fit(x)
        fits.append(time.perf_counter() - start)
    fit_mean = sum(fits) / len(fits)
    scores = []
    for _ in range(5):
        start = time.perf_counter()
        sk = -forest.score_samples(x)  # the same 0..1 scale as the Go forest
        scores.append(time.perf_counter() - start)
    sk_score = min(scores)
    sk_rowwise_start = time.perf_counter()
    for row in x[:200]:
        forest.score_samples(row.reshape(1, -1))
    sk_rowwise = (time.perf_counter() - sk_rowwise_start) / 200

    rows = len(y)
    print(f"dataset: {rows} rows, {len(features)} features, {y.sum()} outliers; "
          f"n_estimators={args.n_estimators} max_samples={args.max_samples}")
    print("times are the mean of five fits and the best of five scorings of every row")
    print(f"{'forest':<26}{'ROC AUC':>9}{'fit ms':>10}{'score ms':>10}{'µs/row':>10}")
    print(f"{'scikit-learn':<26}{roc_auc_score(y, sk):>9.4f}{1e3 * fit_mean:>10.2f}{1e3 * sk_score:>10.2f}"
          f"{1e6 * sk_score / rows:>10.2f}")
    for name in ("go_walk", "go_extrapolate"):
        s = data[name]
        print(f"{name:<26}{roc_auc_score(y, s):>9.4f}{1e3 * go[name + '_fit_seconds']:>10.2f}"
              f"{1e3 * go[name + '_score_seconds']:>10.2f}{1e6 * go[name + '_score_seconds'] / rows:>10.2f}")
    print(f"scikit-learn one row per call: {1e6 * sk_rowwise:.0f} µs/row (as an exporter scores a window)")
    for name in ("go_walk", "go_extrapolate"):
        s = data[name]
        r = np.corrcoef(sk, s)[0, 1]
        print(f"agreement with scikit-learn, {name}: Pearson r {r:.4f}, mean |difference| {np.mean(np.abs(sk - s)):.4f}")
    for t in (0.836, 0.7, 0.6):
        print(f"share of rows at or above {t}: scikit-learn {np.mean(sk >= t):.4f}, "
              f"go_walk {np.mean(data['go_walk'] >= t):.4f}, go_extrapolate {np.mean(data['go_extrapolate'] >= t):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
