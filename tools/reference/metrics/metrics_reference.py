"""Parity fixtures for packages/metrics/src/metrics.ts (ALGORITHMS.md section 1.10).

Independent reference: scikit-learn (accuracy_score, f1_score, average_precision_score,
confusion_matrix) in float64. Predictions are np.argmax over the scores (the first maximal
column wins a tie, as tf.argMax and the TS code). Writes packages/metrics/test/fixtures/metrics.json.

Run: /usr/bin/python3 tools/reference/metrics/metrics_reference.py
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, f1_score

OUT = pathlib.Path(__file__).resolve().parents[3] / "packages/metrics/test/fixtures/metrics.json"


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def case(name, labels, scores):
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    c = scores.shape[1]
    pred = np.argmax(scores, axis=1)
    ap = []
    excluded = []
    for k in range(c):
        pos = labels == k
        if not pos.any():
            excluded.append(k)
            ap.append(None)
        else:
            ap.append(float(average_precision_score(pos.astype(np.int64), scores[:, k])))
    present = [a for a in ap if a is not None]
    return {
        "name": name,
        "labels": labels.tolist(),
        "scores": scores.tolist(),
        "numClasses": c,
        "predictions": pred.tolist(),
        "accuracy": float(accuracy_score(labels, pred)),
        # sklearn default: unweighted mean over classes in labels or predictions.
        "macroF1Present": float(f1_score(labels, pred, average="macro", zero_division=0)),
        # All C classes; a class absent from both gets F1 = 0 (zero_division=0).
        "macroF1All": float(
            f1_score(labels, pred, labels=list(range(c)), average="macro", zero_division=0)
        ),
        "perClassAP": ap,
        "mAP": float(np.mean(present)),
        "excludedClasses": excluded,
        "confusion": confusion_matrix(labels, pred, labels=list(range(c))).tolist(),
    }


def main():
    rng = np.random.default_rng(1010)
    cases = []

    n, c = 300, 7
    labels = rng.integers(0, c, n)
    logits = rng.standard_normal((n, c)) * 1.5
    logits[np.arange(n), labels] += 1.0  # better than chance
    cases.append(case("random n=300 C=7", labels, softmax(logits)))

    # Heavy ties: scores on a grid of 5 values, so thresholds group many samples and argmax
    # ties resolve to the first column.
    n, c = 120, 4
    labels = rng.integers(0, c, n)
    scores = rng.integers(0, 5, (n, c)) / 4.0
    cases.append(case("ties on a 5-value grid", labels, scores))

    # Class 3 absent from the labels (but predicted sometimes): excluded from mAP.
    n, c = 80, 5
    labels = rng.choice([0, 1, 2, 4], n)
    logits = rng.standard_normal((n, c))
    logits[np.arange(n), labels] += 0.8
    cases.append(case("class 3 absent from labels", labels, softmax(logits)))

    # Class 2 present in the labels but never predicted: F1_2 = 0 is in the mean.
    n, c = 90, 4
    labels = rng.integers(0, c, n)
    logits = rng.standard_normal((n, c))
    logits[:, 2] -= 10.0
    cases.append(case("class 2 never predicted", labels, softmax(logits)))

    # Class 4 absent from labels and predictions: 'present' and 'all' differ.
    n, c = 60, 5
    labels = rng.integers(0, 4, n)
    logits = rng.standard_normal((n, c))
    logits[:, 4] -= 10.0
    cases.append(case("class 4 absent from labels and predictions", labels, softmax(logits)))

    # Perfect, single-sample and all-tied edge cases.
    labels = np.array([0, 1, 2, 1, 0, 2])
    cases.append(case("perfect", labels, np.eye(3)[labels] * 0.8 + 0.1))
    cases.append(case("one sample", [1], [[0.2, 0.5, 0.3]]))
    cases.append(case("all scores tied", [0, 1, 1, 0, 2], np.full((5, 3), 1 / 3)))

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "generator": "tools/reference/metrics/metrics_reference.py",
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "cases": cases,
            }
        )
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
