#!/usr/bin/env python3
"""Reference ROC figures with numpy, for tests/common/tasks/roc_test.cc and
tests/integration/eval_test.sh. Independent of Chorus's C++ (roc.h): the AUC
is the Mann-Whitney statistic with mid-ranks for ties (what
sklearn.metrics.roc_auc_score computes), the curve is numpy cumulative sums
at the distinct scores, the EER is interpolated where FPR meets FNR.

usage:
  roc_reference.py binary IN.csv     IN: "score,label" lines (label 0 or 1)
      prints JSON {"auc", "eer", "fpr": [...], "tpr": [...], "thresholds": [...]}
  roc_reference.py ovr SCORES.csv    SCORES: a header, then "index,label,p0,...,pK-1"
      (label: the true class index); prints JSON {"auc": [per class or null], "macro": ...}
"""
import json
import sys

import numpy as np


def midrank_auc(scores, positive):
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0  # mid-rank, 1-based
        i = j + 1
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def curve(scores, positive):
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last_of_group = np.r_[np.where(np.diff(s) != 0)[0], len(s) - 1]
    tps = np.cumsum(p)[last_of_group]
    fps = np.cumsum(~p)[last_of_group]
    fpr = np.r_[0.0, fps / (~positive).sum()]
    tpr = np.r_[0.0, tps / positive.sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_group]]


def eer(fpr, tpr):
    fnr = 1.0 - tpr
    for i in range(1, len(fpr)):
        if fpr[i] < fnr[i]:
            continue
        da, db = fnr[i - 1] - fpr[i - 1], fpr[i] - fnr[i]
        w = da / (da + db) if da + db > 0 else 0.0
        return fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    return 1.0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("binary", "ovr"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "binary":
        data = np.loadtxt(argv[2], delimiter=",", ndmin=2)
        scores, positive = data[:, 0], data[:, 1] > 0.5
        fpr, tpr, thresholds = curve(scores, positive)
        out = {"auc": midrank_auc(scores, positive), "trapezoid_auc": float(np.trapz(tpr, fpr)),
               "eer": eer(fpr, tpr), "fpr": fpr.tolist(), "tpr": tpr.tolist(),
               "thresholds": [None if np.isinf(t) else float(t) for t in thresholds]}
    else:
        data = np.loadtxt(argv[2], delimiter=",", skiprows=1, ndmin=2)
        labels, probs = data[:, 1].astype(int), data[:, 2:]
        aucs = [midrank_auc(probs[:, c], labels == c) for c in range(probs.shape[1])]
        present = [a for a in aucs if a is not None]
        out = {"auc": aucs, "macro": float(np.mean(present)) if present else None}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
