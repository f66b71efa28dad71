#!/usr/bin/env python3
"""Training speed of seqtorch-textgen on a GPU against the same model trained by PyTorch-Python
on the same GPU, in tokens per second, interleaved (ours, peer, ours, peer, ...; the best run of
each kept). One line of JSON per configuration, then a table.

Both sides: the corpus's code points (the last 5% left out), a character LSTM (embedding 64,
LAYERS x HIDDEN, a linear output layer), BATCH parallel streams read in chunks of 100 steps with
the state carried and detached, cross-entropy, Adam (lr 0.002), the global gradient norm clipped
to 1, cuDNN's defaults (TF32 as PyTorch sets it). Timed from the end of step WARMUP to the end of
the last step: the peer with torch.cuda.synchronize() at both ends, ours from the `elapsed_s` of
its metrics.jsonl lines at those steps (each written once that step's loss has come back from
the GPU). STEPS stays below an epoch, so neither side evaluates or saves inside the window.

--sync also runs ours with --sync-steps (the loss and the gradient norm read back at every step,
the skip decided on the host): what those reads cost.
--graph compares captured steps: ours as it runs by default (the step captured in a CUDA graph
and replayed), ours with --cuda-graph off, the peer's eager loop and the peer's step captured
with torch.cuda.graph (static input and state buffers, Adam(capturable=True), PyTorch's
whole-network recipe: three warm-up steps on a side stream, then capture and replay), each
interleaved and the best of REPS kept; with the graph rows, how many of ours' steps were replays
(`graph_steps` of its final line).
--profile LxHxB (with --bench build/bin/seqtorch-bench): where a step's time goes, both sides, on
random tokens (vocabulary 96): forward with the loss, backward, norm clipping and the optimiser
step each timed with a device synchronisation around it (GPU time per phase), then the whole
step as each side runs it; for ours also with the host reads of --sync-steps.

usage: gpu_textgen.py --bin build/bin/seqtorch-textgen --corpus kjv.txt [--configs 2x512x32,...]
                      [--steps 300] [--warmup 60] [--reps 2] [--sync] [--graph]
                      [--profile 2x512x32 --bench build/bin/seqtorch-bench]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_textgen import CharLM  # noqa: E402  (the CPU race's peer: the same model)

SEQ_LEN, EMBED, LR = 100, 64, 0.002


def parse_config(text):
    layers, hidden, batch = (int(v) for v in text.split("x"))
    return layers, hidden, batch


def ours(args, layers, hidden, batch, sync, graph=True):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.bin, "train", "--text", args.corpus, "--device", "cuda", "--quiet",
               "--num-layers", str(layers), "--hidden-size", str(hidden), "--batch-size", str(batch),
               "--seq-len", str(SEQ_LEN), "--embedding-size", str(EMBED), "--lr", str(LR),
               "--clip-grad", "1", "--max-steps", str(args.steps), "--epochs", "1000",
               "--out", os.path.join(tmp, "run")]
        if sync:
            cmd.append("--sync-steps")
        if not graph:
            cmd += ["--cuda-graph", "off"]
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        with open(os.path.join(tmp, "run", "metrics.jsonl")) as f:
            rows = [json.loads(line) for line in f]
    try:
        ours.graph_steps = int(json.loads(done.stdout.strip().splitlines()[-1]).get("graph_steps", -1))
    except (ValueError, IndexError):
        ours.graph_steps = -1
    train = {r["step"]: r["elapsed_s"] for r in rows if r.get("split") == "train" and "event" not in r}
    first = min(s for s in train if s >= args.warmup)
    last = max(train)
    return (last - first) * batch * SEQ_LEN / (train[last] - train[first])


def load_ids(corpus):
    with open(corpus, encoding="utf-8") as f:
        points = [ord(c) for c in f.read()]
    train = points[: len(points) - max(1, int(len(points) * 0.05))]
    index = {s: i + 1 for i, s in enumerate(sorted(set(train)))}
    return torch.tensor([index[s] for s in train], dtype=torch.long), len(index) + 1


def peer_setup(ids, vocab, layers, hidden, batch, **adam):
    """The peer's device, its BATCH streams of the corpus, its model and its Adam."""
    torch.manual_seed(1)
    dev = torch.device("cuda")
    per = ids.numel() // batch
    data = ids[: per * batch].view(batch, per).to(dev)
    model = CharLM(vocab, EMBED, hidden, layers).to(dev)
    return dev, data, model, torch.optim.Adam(model.parameters(), lr=LR, **adam)


def peer(args, ids, vocab, layers, hidden, batch):
    _, data, model, opt = peer_setup(ids, vocab, layers, hidden, batch)
    state, t0 = None, None
    for step in range(1, args.steps + 1):
        i = (step - 1) * SEQ_LEN
        x, y = data[:, i:i + SEQ_LEN].t(), data[:, i + 1:i + 1 + SEQ_LEN].t()
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step == args.warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
    torch.cuda.synchronize()
    return (args.steps - args.warmup) * batch * SEQ_LEN / (time.perf_counter() - t0)


def peer_graph(args, ids, vocab, layers, hidden, batch):
    """The peer's step captured in a CUDA graph (torch.cuda.graph), replayed on copied batches."""
    dev, data, model, opt = peer_setup(ids, vocab, layers, hidden, batch, capturable=True)
    x = torch.zeros(SEQ_LEN, batch, dtype=torch.long, device=dev)
    y = torch.zeros(SEQ_LEN, batch, dtype=torch.long, device=dev)
    h = torch.zeros(layers, batch, hidden, device=dev)
    c = torch.zeros(layers, batch, hidden, device=dev)

    def load(step):
        i = (step - 1) * SEQ_LEN
        x.copy_(data[:, i:i + SEQ_LEN].t())
        y.copy_(data[:, i + 1:i + 1 + SEQ_LEN].t())

    def body():
        logits, (h1, c1) = model(x, (h, c))
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        h.copy_(h1.detach())
        c.copy_(c1.detach())
        return loss.detach()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for step in range(1, 4):
            load(step)
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        body()
    t0 = None
    for step in range(4, args.steps + 1):
        load(step)
        graph.replay()
        if step == args.warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
    torch.cuda.synchronize()
    return (args.steps - args.warmup) * batch * SEQ_LEN / (time.perf_counter() - t0)


def graph_rows(args, ids, vocab):
    rows = []
    for text in args.configs.split(","):
        layers, hidden, batch = parse_config(text)
        if args.steps * SEQ_LEN >= ids.numel() // batch:
            sys.exit(f"gpu_textgen: {args.steps} steps of batch {batch} exceed one epoch of the corpus")
        best = {"ours": 0.0, "ours_eager": 0.0, "peer": 0.0, "peer_graph": 0.0}
        for _ in range(args.reps):
            best["ours"] = max(best["ours"], ours(args, layers, hidden, batch, False, True))
            graph_steps = ours.graph_steps
            best["peer_graph"] = max(best["peer_graph"], peer_graph(args, ids, vocab, layers, hidden, batch))
            best["ours_eager"] = max(best["ours_eager"], ours(args, layers, hidden, batch, False, False))
            best["peer"] = max(best["peer"], peer(args, ids, vocab, layers, hidden, batch))
        row = {"config": f"{layers}xLSTM-{hidden} batch {batch}"}
        row.update({f"{k}_tokens_per_s": round(v) for k, v in best.items()})
        row["ratio_to_peer_graph"] = round(best["ours"] / best["peer_graph"], 3)
        row["ours_graph_steps"] = graph_steps
        row.update({"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                    "steps": args.steps, "warmup": args.warmup, "reps": args.reps})
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'configuration':<26}{'ours graph':>12}{'ours eager':>12}{'peer graph':>12}{'peer eager':>12}{'ratio':>8}")
    for r in rows:
        print(f"{r['config']:<26}{r['ours_tokens_per_s']:>12}{r['ours_eager_tokens_per_s']:>12}"
              f"{r['peer_graph_tokens_per_s']:>12}{r['peer_tokens_per_s']:>12}{r['ratio_to_peer_graph']:>8.3f}")


def peer_profile(layers, hidden, batch, steps):
    """Phase times of the peer's step (ms), as seqtorch-bench gpu-step-LxHxB measures ours."""
    torch.manual_seed(0)
    dev, vocab = torch.device("cuda"), 96
    model = CharLM(vocab, EMBED, hidden, layers).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x = torch.randint(vocab, (SEQ_LEN, batch), device=dev)
    y = torch.randint(vocab, (SEQ_LEN, batch), device=dev)
    phase = [0.0] * 4

    def now():
        torch.cuda.synchronize()
        return time.perf_counter()

    def step(phased):
        t0 = now() if phased else 0
        opt.zero_grad()
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        t1 = now() if phased else 0
        loss.backward()
        t2 = now() if phased else 0
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        t3 = now() if phased else 0
        opt.step()
        if phased:
            t4 = now()
            for i, (a, b) in enumerate([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]):
                phase[i] += b - a

    for phased in (True, False):
        for _ in range(10):
            step(phased)
        if phased:
            phase[:] = [0.0] * 4
        t0 = now()
        for _ in range(steps):
            step(phased)
        total = (now() - t0) / steps * 1e3
    names = ["forward_ms", "backward_ms", "clip_ms", "optimizer_ms"]
    out = {n: round(v / steps * 1e3, 4) for n, v in zip(names, phase)}
    out["step_ms"] = round(total, 4)
    out["tokens_per_s"] = round(batch * SEQ_LEN / total * 1e3, 1)
    return out


def profile(args):
    layers, hidden, batch = parse_config(args.profile)
    steps = 100
    ours_json = subprocess.run([args.bench, f"gpu-step-{args.profile}", "1", str(steps)], check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
    mine = json.loads(ours_json)
    theirs = peer_profile(layers, hidden, batch, steps)
    print(json.dumps({"profile": args.profile, "seqtorch": mine, "pytorch": theirs}))
    print(f"\nprofile {layers}xLSTM-{hidden} batch {batch} (ms per step; phases timed apart)")
    print(f"{'':<34}{'seqtorch':>10}{'PyTorch':>10}")
    for key, label in [("forward_ms", "forward + loss"), ("backward_ms", "backward"),
                       ("clip_ms", "gradient norm clipping"), ("optimizer_ms", "optimiser step"),
                       ("step_ms", "whole step, as run"), ("step_host_reads_ms", "whole step, host reads")]:
        a, b = mine.get(key), theirs.get(key)
        print(f"{label:<34}{(f'{a:.3f}' if a is not None else '-'):>10}{(f'{b:.3f}' if b is not None else '-'):>10}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--configs", default="2x512x32,2x512x128,1x1024x64")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--sync", action="store_true")
    p.add_argument("--graph", action="store_true", help="captured steps, both sides")
    p.add_argument("--profile", help="LxHxB: a phase profile of one configuration (needs --bench)")
    p.add_argument("--bench", help="path of seqtorch-bench")
    args = p.parse_args()
    if args.profile:
        if not args.bench:
            sys.exit("gpu_textgen: --profile needs --bench PATH/seqtorch-bench")
        profile(args)
        return 0
    ids, vocab = load_ids(args.corpus)
    if args.graph:
        graph_rows(args, ids, vocab)
        return 0
    rows = []
    for text in args.configs.split(","):
        layers, hidden, batch = parse_config(text)
        if args.steps * SEQ_LEN >= ids.numel() // batch:
            sys.exit(f"gpu_textgen: {args.steps} steps of batch {batch} exceed one epoch of the corpus")
        best_ours = best_peer = 0.0
        for _ in range(args.reps):
            best_ours = max(best_ours, ours(args, layers, hidden, batch, False))
            best_peer = max(best_peer, peer(args, ids, vocab, layers, hidden, batch))
        row = {"config": f"{layers}xLSTM-{hidden} batch {batch}", "ours_tokens_per_s": round(best_ours),
               "peer_tokens_per_s": round(best_peer), "ratio": round(best_ours / best_peer, 3),
               "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "steps": args.steps, "warmup": args.warmup, "reps": args.reps}
        if args.sync:
            row["ours_sync_steps_tokens_per_s"] = round(ours(args, layers, hidden, batch, True))
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'configuration':<28}{'seqtorch':>12}{'PyTorch':>12}{'ratio':>8}{'host-sync':>12}")
    for r in rows:
        sync = r.get("ours_sync_steps_tokens_per_s")
        print(f"{r['config']:<28}{r['ours_tokens_per_s']:>12}{r['peer_tokens_per_s']:>12}"
              f"{r['ratio']:>8.3f}{(str(sync) if sync else '-'):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
