"""Is a statistical detector worth adding next to the rules? A measurement, not a detector.

Logistic regression (pure Python, SGD, class-balanced) over hashed word 1-2-grams and
character 3-5-grams, trained on the dev split only; the threshold is the one that keeps
5-fold cross-validation by family on dev within the false-positive budget (1% descriptions,
2% results). Then the test split and the held-out probes are scored once.

    python3 tests/data/guard/gen/ngram_experiment.py descriptions   # about 5 minutes
    python3 tests/data/guard/gen/ngram_experiment.py results

The numbers it printed on 2026-12-07 are in crates/belay-guard/README.md; they are why no
model ships (it learns this corpus's author, not the attacks).
"""
import json, math, random, re, sys, hashlib, collections
D = 1 << 18
def feats(text):
    t = text.lower()
    words = re.findall(r"\w+|[^\w\s]", t)
    out = collections.Counter()
    for i, w in enumerate(words):
        out["w:" + w] += 1
        if i: out["b:" + words[i-1] + " " + w] += 1
    s = " " + re.sub(r"\s+", " ", t) + " "
    for n in (3, 4, 5):
        for i in range(len(s) - n + 1):
            out["c:" + s[i:i+n]] += 1
    v = {}
    for k, c in out.items():
        h = int(hashlib.blake2b(k.encode(), digest_size=8).hexdigest(), 16)
        idx = h % D; sign = 1 if (h >> 63) & 1 else -1
        v[idx] = v.get(idx, 0) + sign * (1 + math.log(c))
    norm = math.sqrt(sum(x*x for x in v.values())) or 1
    return {k: x / norm for k, x in v.items()}
def text_of(r):
    if "tool" in r:
        t = r["tool"]; parts = [t.get("name",""), t.get("description") or ""]
        for p in (t.get("inputSchema") or {}).get("properties", {}).values():
            if isinstance(p, dict) and isinstance(p.get("description"), str): parts.append(p["description"])
        return "\n".join(parts)
    return r["text"]
def train(X, y, epochs=12, lam=1e-5, lr=0.5):
    w = collections.defaultdict(float); b = 0.0
    idx = list(range(len(X))); random.seed(7)
    pos = sum(y); neg = len(y) - pos
    cw = {1: len(y) / (2 * pos), 0: len(y) / (2 * neg)}
    for ep in range(epochs):
        random.shuffle(idx)
        for i in idx:
            z = b + sum(w[k] * x for k, x in X[i].items())
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            g = (p - y[i]) * cw[y[i]]
            step = lr / (1 + ep)
            for k, x in X[i].items():
                w[k] -= step * (g * x + lam * w[k])
            b -= step * g
    return w, b
def score(m, x):
    w, b = m; return b + sum(w.get(k, 0) * v for k, v in x.items())
kind = sys.argv[1]
import os
HERE = os.path.dirname(os.path.abspath(__file__))
rows = [json.loads(l) for l in open(os.path.join(HERE, "..", f"{kind}.jsonl"), encoding="utf-8")]
for r in rows: r["x"] = feats(text_of(r)); r["y"] = 0 if r["label"] == "benign" else 1
dev = [r for r in rows if r["split"] == "dev"]
fams = sorted({r["family"] for r in dev}); random.seed(1); random.shuffle(fams)
fold = {f: i % 5 for i, f in enumerate(fams)}
cv = []
for k in range(5):
    tr = [r for r in dev if fold[r["family"]] != k]; te = [r for r in dev if fold[r["family"]] == k]
    m = train([r["x"] for r in tr], [r["y"] for r in tr])
    cv += [(score(m, r["x"]), r["y"]) for r in te]
budget = 0.01 if kind == "descriptions" else 0.02
negs = sorted((s for s, y in cv if y == 0), reverse=True)
thr = negs[int(len(negs) * budget)] + 1e-9
cvrec = sum(1 for s, y in cv if y == 1 and s > thr) / sum(1 for _, y in cv if y == 1)
print(f"{kind}: CV on dev by family: threshold {thr:.3f}, recall {cvrec:.3f} at <= {budget:.0%} FP")
m = train([r["x"] for r in dev], [r["y"] for r in dev])
flag = {r["id"]: score(m, r["x"]) > thr for r in rows}
for split in ("test", "probe3", "probe5", "probe6"):
    s = [r for r in rows if r["split"] == split]
    P = [r for r in s if r["y"]]; N = [r for r in s if not r["y"]]
    if not P: continue
    print(f"  {split}: recall {sum(flag[r['id']] for r in P)}/{len(P)}, benign flagged {sum(flag[r['id']] for r in N)}/{len(N)}")
