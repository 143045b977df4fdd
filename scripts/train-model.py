#!/usr/bin/env python3
"""Train the small model that the confidential-data demo sells, and predict with it.

The model is a softmax (multinomial logistic) regression that tells a machine's condition
(normal, worn, faulty) from four sensor readings: temperature (degrees C), vibration (mm/s),
pressure (bar) and current (A). The data are synthetic, generated from a fixed seed, so the
script needs nothing beyond the Python 3 standard library and gives the same weights file on
every run.

    scripts/train-model.py --out model.txt [--seed N]
        generate the data, train on 600 samples, print the accuracy on the 300 held out,
        write the weights file
    scripts/train-model.py --predict "71.5 4.2 2.9 11.0" --weights model.txt
        print what apps/classify writes in result.txt for these features (the script's own
        prediction: the test of apps/classify compares the two)

Weights file (text, UTF-8, one item per line, '#' starts a comment line):

    poco-classify 1                 format name and version
    features 4                      N, 1..32
    classes 3                       K, 2..16
    scale 1000                      S, a power of ten from 1 to 1000000
    class NAME B W1 .. WN           K lines: name ([A-Za-z0-9_-], 1..32 chars), then N + 1
                                    integers, |value| <= 10000000

The real weights are the integers divided by S. Features are read as decimals with at most
three decimals (|x| <= 1000000), i.e. as integers X in thousandths; the score of class k is
the integer L_k = B_k * 1000 + sum_i W_ki * X_i, worth L_k / (S * 1000). The predicted class is
the highest score (the first one on a tie); the probabilities are the softmax of the scores.
Integer scores make the prediction exact and identical on every machine; only the printed
probabilities go through exp().

Training: features standardized with the training mean and deviation, full-batch gradient
descent on the cross-entropy with a small L2 penalty; the standardization is then folded into
the weights so that the app reads raw sensor values, and the weights are rounded to integers.
The accuracy printed is that of the rounded model, the one the app runs.
"""

import argparse
import math
import random
import re
import sys

CLASSES = ["normal", "worn", "faulty"]
FEATURES = ["temperature", "vibration", "pressure", "current"]
# Per class: (mean, spread) of each feature. The classes overlap, so the task is not trivial.
CENTERS = {
    "normal": [(62.0, 6.0), (2.5, 1.0), (3.2, 0.35), (10.0, 1.5)],
    "worn": [(70.0, 6.0), (4.5, 1.2), (3.0, 0.35), (11.5, 1.5)],
    "faulty": [(80.0, 7.0), (6.0, 1.5), (2.6, 0.4), (13.5, 2.0)],
}
TRAIN, TEST = 600, 300
SCALE = 10000
MAX_VALUE = 10_000_000
FEATURE_UNITS = 1000  # features are read in thousandths


def normal(rng):
    """An approximately standard normal draw (Irwin-Hall: the sum of 12 uniforms, minus 6).

    Only additions of rng.random() values: no libm call, so the data are bit-identical on
    every platform for a given seed.
    """
    return sum(rng.random() for _ in range(12)) - 6.0


def generate(seed):
    """(features, label) pairs, shuffled: TRAIN + TEST of them, classes in equal numbers."""
    rng = random.Random(seed)
    rows = []
    per_class = (TRAIN + TEST) // len(CLASSES)
    for label, name in enumerate(CLASSES):
        for _ in range(per_class):
            x = [round(mean + spread * normal(rng), 1) for mean, spread in CENTERS[name]]
            rows.append((x, label))
    rng.shuffle(rows)
    return rows[:TRAIN], rows[TRAIN:]


def softmax(logits):
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = 0.0
    for e in exps:  # left to right, as the app adds them (sum() may compensate)
        total += e
    return [e / total for e in exps]


def train(rows, epochs=800, rate=0.5, l2=1e-3):
    """Float weights [[bias, w1..wN] per class] on raw features (standardization folded in)."""
    n = len(FEATURES)
    mean = [sum(x[i] for x, _ in rows) / len(rows) for i in range(n)]
    dev = [math.sqrt(sum((x[i] - mean[i]) ** 2 for x, _ in rows) / len(rows)) for i in range(n)]
    data = [([(x[i] - mean[i]) / dev[i] for i in range(n)], y) for x, y in rows]
    w = [[0.0] * (n + 1) for _ in CLASSES]
    for _ in range(epochs):
        grad = [[0.0] * (n + 1) for _ in CLASSES]
        for z, y in data:
            p = softmax([wk[0] + sum(wk[i + 1] * z[i] for i in range(n)) for wk in w])
            for k in range(len(CLASSES)):
                err = p[k] - (1.0 if k == y else 0.0)
                grad[k][0] += err
                for i in range(n):
                    grad[k][i + 1] += err * z[i]
        for k in range(len(CLASSES)):
            for j in range(n + 1):
                penalty = l2 * w[k][j] if j > 0 else 0.0
                w[k][j] -= rate * (grad[k][j] / len(data) + penalty)
    # z_i = (x_i - mean_i) / dev_i, so w.z + b = sum (w_i / dev_i) x_i + b - sum w_i mean_i / dev_i
    folded = []
    for wk in w:
        weights = [wk[i + 1] / dev[i] for i in range(n)]
        bias = wk[0] - sum(weights[i] * mean[i] for i in range(n))
        folded.append([bias] + weights)
    return folded


def quantize(weights):
    out = []
    for row in weights:
        q = [int(round(v * SCALE)) for v in row]
        if any(abs(v) > MAX_VALUE for v in q):
            sys.exit("error: a weight does not fit the file format; lower SCALE")
        out.append(q)
    return out


def write_model(path, quantized, seed, accuracy):
    lines = [
        "# poco-classify weights: machine condition from sensor readings",
        f"# features: {' '.join(FEATURES)}",
        f"# made by scripts/train-model.py --seed {seed}; held-out accuracy {accuracy:.4f}",
        "poco-classify 1",
        f"features {len(FEATURES)}",
        f"classes {len(CLASSES)}",
        f"scale {SCALE}",
    ]
    for name, row in zip(CLASSES, quantized):
        lines.append("class " + name + " " + " ".join(str(v) for v in row))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def read_model(path):
    """(names, scale, rows) from a weights file; exits with the problem on a bad file."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        sys.exit(f"error: {path} is binary, not a poco-classify weights file (encrypted?)")
    lines = [ln.split() for ln in text.splitlines()]
    lines = [parts for parts in lines if parts and not parts[0].startswith("#")]
    if not lines or lines[0] != ["poco-classify", "1"]:
        sys.exit(f"error: {path} is not a poco-classify 1 weights file")
    header, rows, names = {}, [], []
    try:
        for parts in lines[1:]:
            if parts[0] in ("features", "classes", "scale") and len(parts) == 2:
                header[parts[0]] = int(parts[1])
            elif parts[0] == "class" and len(parts) > 2:
                names.append(parts[1])
                rows.append([int(v) for v in parts[2:]])
            else:
                sys.exit(f"error: {path}: unexpected line '{' '.join(parts)}'")
    except ValueError as e:
        sys.exit(f"error: {path}: {e}")
    if "features" not in header or len(rows) != header.get("classes") or any(
        len(r) != header["features"] + 1 for r in rows
    ):
        sys.exit(f"error: {path}: the class lines do not match the header")
    return names, header["scale"], rows


def parse_feature(text):
    """A decimal with at most three decimals, as an integer number of thousandths."""
    match = re.fullmatch(r"([+-]?)([0-9]+)(?:\.([0-9]{1,3}))?", text)
    if not match:
        sys.exit(f"error: '{text}' is not a decimal number with at most three decimals")
    sign, whole, frac = match.groups()
    value = int(whole) * FEATURE_UNITS + int((frac or "").ljust(3, "0"))
    if value > 1_000_000 * FEATURE_UNITS:
        sys.exit(f"error: '{text}' is out of range (|x| <= 1000000)")
    return -value if sign == "-" else value


def fixed(value, places):
    """An integer worth value / 10**places, written exactly as a decimal."""
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def predict(names, scale, rows, features):
    """The text apps/classify writes in result.txt."""
    scores = [r[0] * FEATURE_UNITS + sum(w * x for w, x in zip(r[1:], features)) for r in rows]
    best = max(range(len(scores)), key=lambda k: (scores[k], -k))
    places = len(str(scale * FEATURE_UNITS)) - 1
    probs = softmax([s / (scale * FEATURE_UNITS) for s in scores])
    out = [f"class {names[best]}"]
    for name, score, p in zip(names, scores, probs):
        out.append(f"score {name} {fixed(score, places)} {p:.4f}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", help="write the weights file here")
    parser.add_argument("--predict", metavar="FEATURES", help="space-separated features")
    parser.add_argument("--weights", help="the weights file --predict uses")
    args = parser.parse_args()

    if args.predict is not None:
        if not args.weights:
            sys.exit("error: --predict needs --weights FILE")
        names, scale, rows = read_model(args.weights)
        features = [parse_feature(t) for t in args.predict.split()]
        if len(features) != len(rows[0]) - 1:
            sys.exit(f"error: the model takes {len(rows[0]) - 1} features, got {len(features)}")
        sys.stdout.write(predict(names, scale, rows, features))
        return
    train_rows, test_rows = generate(args.seed)
    if not args.out:
        sys.exit("error: say where to write the weights with --out FILE (or use --predict)")
    quantized = quantize(train(train_rows))
    names_rows = (CLASSES, SCALE, quantized)

    def accuracy(rows):
        hits = 0
        for x, y in rows:
            text = predict(*names_rows, [parse_feature(str(v)) for v in x])
            hits += text.split("\n")[0] == f"class {CLASSES[y]}"
        return hits / len(rows)

    train_acc, test_acc = accuracy(train_rows), accuracy(test_rows)
    write_model(args.out, quantized, args.seed, test_acc)
    print(f"trained a softmax classifier ({len(FEATURES)} features, {len(CLASSES)} classes) "
          f"on {len(train_rows)} samples, seed {args.seed}")
    print(f"accuracy: training {train_acc:.4f}, held-out {test_acc:.4f} ({len(test_rows)} samples)")
    print(f"weights written to {args.out}")


if __name__ == "__main__":
    main()
