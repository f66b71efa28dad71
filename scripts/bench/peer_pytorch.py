#!/usr/bin/python3
"""The peer of seqtorch-bench: the same workloads in PyTorch-Python, one JSON line each.

usage: peer_pytorch.py WORKLOAD THREADS [SECONDS]   (run with /usr/bin/python3)
"""
import json
import sys
import time


def best_time(fn, budget):
    fn()
    best, spent, reps = float("inf"), 0.0, 0
    while reps < 3 or (spent < budget and reps < 1000):
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        best, spent, reps = min(best, s), spent + s, reps + 1
    return best


def emit(w, threads, unit, value, gflops):
    print(json.dumps({"workload": w, "threads": threads, "impl": "pytorch", "unit": unit,
                      "value": value, "gflops": gflops}))


def main():
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        print("peer_pytorch: torch is missing (apt-get install python3-torch); peer skipped", file=sys.stderr)
        return 3
    w, threads = sys.argv[1], int(sys.argv[2])
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    V, E = 96, 64
    if w in ("W1", "W2", "W1-1x256"):
        H, L, B, T = {"W1": (512, 2, 32, 100), "W2": (128, 1, 16, 100), "W1-1x256": (256, 1, 64, 100)}[w]
        emb, rnn, head = nn.Embedding(V, E), nn.LSTM(E, H, L), nn.Linear(H, V)
        params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)
        x, y = torch.randint(V, (T, B)), torch.randint(V, (T, B))

        def step():
            opt.zero_grad()
            out, _ = rnn(emb(x))
            nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1)).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        s = best_time(step, budget)
        flops = 6.0 * H * V + sum(24.0 * H * ((E if l == 0 else H) + H) for l in range(L))
        emit(w, threads, "tokens/s", B * T / s, B * T / s * flops / 1e9)
    elif w in ("W3-2x512", "W3-1x128"):
        H, L = (512, 2) if w == "W3-2x512" else (128, 1)
        emb, rnn, head = nn.Embedding(V, E), nn.LSTM(E, H, L), nn.Linear(H, V)
        N = 200
        gen = torch.Generator().manual_seed(7)

        @torch.no_grad()
        def generate():
            out, state = rnn(emb(torch.tensor([[1], [2], [3]])))
            logits = head(out[-1])
            for _ in range(N):
                tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)  # [1, 1]
                out, state = rnn(emb(tok), state)
                logits = head(out[-1])

        s = best_time(generate, budget)
        flops = 2.0 * H * V + sum(8.0 * H * ((E if l == 0 else H) + H) for l in range(L))
        us = s / N * 1e6
        emit(w, threads, "us/token", us, flops / (us * 1e3))
    elif w == "W5-attn":
        B, S, T, E, H = 64, 30, 30, 256, 512
        emb, cell = nn.Embedding(V, E), nn.LSTMCell(E + H, H)
        key, combine, project = nn.Linear(H, H, bias=False), nn.Linear(2 * H, H), nn.Linear(H, V)
        params = [p for m in (emb, cell, key, combine, project) for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=1e-3)
        memory, h0, c0 = torch.randn(S, B, H), torch.randn(B, H), torch.randn(B, H)
        x, y = torch.randint(V, (T, B)), torch.randint(V, (T, B))

        def step():
            opt.zero_grad()
            values = memory.transpose(0, 1).contiguous()  # [B, S, H]
            keys = key(values)
            h, c, feed = h0, c0, torch.zeros(B, H)
            features = []
            for t in range(T):
                h, c = cell(torch.cat([emb(x[t]), feed], 1), (h, c))
                weights = torch.softmax(torch.bmm(h.unsqueeze(1), keys.transpose(1, 2)), -1)
                context = torch.bmm(weights, values).squeeze(1)
                feed = torch.tanh(combine(torch.cat([h, context], 1)))
                features.append(feed)
            logits = project(torch.stack(features))
            nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        s = best_time(step, budget)
        flops = 24.0 * H * (E + 2 * H) + 12.0 * H * H + 6.0 * H * V + 6.0 * S * H * H / T + 12.0 * S * H
        emit(w, threads, "tokens/s", B * T / s, B * T / s * flops / 1e9)
    elif w.startswith("W4-"):
        gru = w == "W4-gru512"
        H = 1024 if w == "W4-lstm1024" else 256 if w == "W4-lstm256" else 512
        N = 16 if w == "W4-lstm256" else 32 if gru else 64
        T = 150 if w == "W4-lstm256" else 1 if gru else 25
        layer = nn.GRU(H, H) if gru else nn.LSTM(H, H)
        x = torch.randn(T, N, H)
        weights = list(layer.parameters())
        flops = (6.0 if gru else 8.0) * H * 2 * H * N * T

        def setg(data, params):
            x.requires_grad_(data)
            for p in weights:
                p.requires_grad_(params)

        setg(True, True)
        fwd = best_time(lambda: layer(x), budget / 3)
        setg(True, False)
        out = layer(x)[0]
        gy = torch.randn_like(out)
        bd = best_time(lambda: torch.autograd.grad(out, [x], gy, retain_graph=True), budget / 3)
        setg(False, True)
        out = layer(x)[0]
        bw = best_time(lambda: torch.autograd.grad(out, weights, gy, retain_graph=True), budget / 3)
        emit(w + "-fwd", threads, "ms", fwd * 1e3, flops / fwd / 1e9)
        emit(w + "-bwd-data", threads, "ms", bd * 1e3, flops / bd / 1e9)
        emit(w + "-bwd-weights", threads, "ms", bw * 1e3, flops / bw / 1e9)
    else:
        print(f"peer_pytorch: unknown workload {w}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
