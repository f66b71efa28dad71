#!/usr/bin/python3
"""The PyTorch seq2seq translation tutorial's model, trained in PyTorch-Python on a TSV: the peer
of scripts/bench/compare_translate.sh.

usage: peer_translate.py DATA.tsv UNITS STEPS THREADS [HIDDEN] [BATCH]

EncoderRNN (embedding, dropout 0.1, GRU), BahdanauAttention (Wa, Ua, Va) and AttnDecoderRNN
(embedding, dropout, attention on the previous hidden state, GRU over [embedding; context],
linear output) as in pytorch/tutorials intermediate_source/seq2seq_translation_tutorial.py,
embedding size = hidden size; Adam 1e-3; teacher forcing; batches built as seqtorch-translate
builds them (shuffled, sorted by source length in chunks of 50 batches, padded to the longest),
the loss over real target tokens (</s> included). Prints one JSON line: tokens (target tokens
trained on after 3 warm-up steps), seconds, tokens_per_s.
"""
import json
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK, BOS, EOS = 0, 1, 2, 3
PUNCT = set(chr(c) for c in range(33, 127) if not chr(c).isalnum() and chr(c) not in "'-") | set("¡¿«»“”‘’…–—")


def tokenize(s, units):
    if units == "char":
        return list(s)
    out, word = [], ""
    for ch in s:
        if ch.isspace():
            if word:
                out.append(word)
            word = ""
        elif ch in PUNCT:
            if word:
                out.append(word)
            word = ""
            out.append(ch)
        else:
            word += ch
    if word:
        out.append(word)
    return out


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x):
        return self.gru(self.dropout(self.embedding(x)))


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights, keys), weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_in):
        hidden = encoder_hidden
        outputs = []
        for i in range(target_in.size(1)):
            out, hidden = self.forward_step(target_in[:, i:i + 1], hidden, encoder_outputs)
            outputs.append(out)
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1)

    def forward_step(self, x, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(x))
        query = hidden.permute(1, 0, 2)
        context, _ = self.attention(query, encoder_outputs)
        output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
        return self.out(output), hidden


def main() -> int:
    path, units, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    hidden = int(sys.argv[5]) if len(sys.argv) > 5 else 128
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else 32
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                pairs.append((tokenize(cols[0].strip(), units), tokenize(cols[1].strip(), units)))
    vocab = lambda side: {t: i + 4 for i, t in enumerate(sorted({t for p in pairs for t in p[side]}))}
    sv, tv = vocab(0), vocab(1)
    data = [([sv[t] for t in s] + [EOS], [tv[t] for t in t_]) for s, t_ in pairs]
    rng = random.Random(1)
    order = list(range(len(data)))
    rng.shuffle(order)
    chunk = batch * 50
    for at in range(0, len(order), chunk):
        order[at:at + chunk] = sorted(order[at:at + chunk], key=lambda i: len(data[i][0]))
    batches = [order[at:at + batch] for at in range(0, len(order), batch)]
    rng.shuffle(batches)
    encoder, decoder = EncoderRNN(len(sv) + 4, hidden), AttnDecoderRNN(hidden, len(tv) + 4)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    tokens, start = 0, None
    for step in range(steps + 3):
        if step == 3:
            tokens, start = 0, time.time()
        idx = batches[step % len(batches)]
        S = max(len(data[i][0]) for i in idx)
        T = max(len(data[i][1]) for i in idx) + 1
        src = torch.full((len(idx), S), PAD, dtype=torch.long)
        tin = torch.full((len(idx), T), PAD, dtype=torch.long)
        tout = torch.full((len(idx), T), PAD, dtype=torch.long)
        for b, i in enumerate(idx):
            s, t = data[i]
            src[b, :len(s)] = torch.tensor(s)
            tin[b, 0] = BOS
            tin[b, 1:len(t) + 1] = torch.tensor(t, dtype=torch.long)
            tout[b, :len(t)] = torch.tensor(t, dtype=torch.long)
            tout[b, len(t)] = EOS
            tokens += len(t) + 1
        enc_out, enc_hidden = encoder(src)
        logp = decoder(enc_out, enc_hidden, tin)
        loss = F.nll_loss(logp.reshape(-1, logp.size(-1)), tout.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.time() - start
    print(json.dumps({"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": tokens / seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
