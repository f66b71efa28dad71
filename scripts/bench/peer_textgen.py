#!/usr/bin/python3
"""The PyTorch-Python side of scripts/bench/compare_textgen.sh: a character LSTM of the size of
models/textgen.cfg trained the way seqtorch-textgen trains it, for a fixed wall-clock budget,
then scored on the same validation text the same way. One JSON line on stdout.

Same as seqtorch-textgen: the last 5% of the code points for validation; vocabulary = the sorted
code points of the training part, id 0 for unknown; embedding 64, nn.LSTM(64, 256, 2), a linear
output layer; the training text cut into 32 parallel streams, truncated BPTT over 100 steps with
the state carried between chunks, cross-entropy, Adam (lr 0.002), gradient norm clipped to 1;
the budget counts training only; validation: 16 streams, chunks of 256, bits per character.

usage: peer_textgen.py CORPUS SECONDS THREADS [SEED [LAYERSxHIDDEN BATCH LR]]
       (run with /usr/bin/python3; the last three: another model, e.g. 1x256 64 0.004, as the
       sweep of compare_textgen.sh --sweep runs)
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn


class CharLM(nn.Module):
    def __init__(self, vocab, emb=64, hidden=256, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        y, state = self.rnn(self.embed(x), state)
        return self.head(y), state


def batchify(ids, streams):
    per = ids.numel() // streams
    return ids[: per * streams].view(streams, per)


def score(model, ids, streams=16, chunk=256):
    model.eval()
    streams = max(1, min(streams, ids.numel() // chunk))
    data = batchify(ids, streams)
    nll, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, data.size(1) - 1, chunk):
            t = min(chunk, data.size(1) - 1 - i)
            x, y = data[:, i:i + t].t(), data[:, i + 1:i + 1 + t].t()
            logits, state = model(x, state)
            nll += nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                               reduction="sum").item()
            count += x.numel()
    model.train()
    return nll / count / math.log(2)


def main():
    corpus, budget, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    layers, hidden, streams, lr = 2, 256, 32, 0.002
    if len(sys.argv) > 7:
        layers, hidden = (int(v) for v in sys.argv[5].split("x"))
        streams, lr = int(sys.argv[6]), float(sys.argv[7])
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    with open(corpus, encoding="utf-8") as f:
        points = [ord(c) for c in f.read()]
    n_val = max(1, int(len(points) * 0.05))
    train, val = points[:-n_val], points[-n_val:]
    index = {s: i + 1 for i, s in enumerate(sorted(set(train)))}
    vocab = len(index) + 1

    def encode(xs):
        return torch.tensor([index.get(s, 0) for s in xs], dtype=torch.long)

    data, val_ids = batchify(encode(train), streams), encode(val)
    model = CharLM(vocab, hidden=hidden, layers=layers)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    seq_len, steps, tokens = 100, 0, 0
    start = time.perf_counter()
    done = False
    while not done:
        state = None
        for i in range(0, data.size(1) - 1, seq_len):
            t = min(seq_len, data.size(1) - 1 - i)
            x, y = data[:, i:i + t].t(), data[:, i + 1:i + 1 + t].t()
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps, tokens = steps + 1, tokens + x.numel()
            if time.perf_counter() - start >= budget:
                done = True
                break
    trained = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": "%dx%d" % (layers, hidden), "batch": streams, "lr": lr,
                      "bits_per_char": score(model, val_ids), "steps": steps,
                      "train_seconds": trained, "tokens_per_s": tokens / trained}))


if __name__ == "__main__":
    main()
