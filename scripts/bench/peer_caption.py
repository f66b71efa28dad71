#!/usr/bin/python3
"""The captioner seqtorch-caption trains by default, written in PyTorch-Python and trained on the
same COCO-format data: the peer of scripts/bench/compare_caption.sh.

usage: peer_caption.py IMAGES_DIR CAPTIONS.json STEPS THREADS [BATCH] [IMAGE_SIZE] [DEVICE]

Encoder: conv3x3(3->32) BN ReLU, three residual stages (32, 64, 128 channels, stride 2; conv3x3
BN ReLU conv3x3 BN plus a strided 1x1 conv + BN shortcut, ReLU) -> an 8 x 8 grid of 128
features. Decoder: show, attend and tell as seqtorch builds it: h0, c0 = tanh(W pooled), per
step additive attention (W_q h + W_k m, v^T tanh) on the previous h, a sigmoid gate, an LSTM over
[embedding 128; gated context], hidden 256, dropout 0.3, output layer; cross-entropy with label
smoothing 0.1 over the real tokens plus the doubly stochastic attention term; Adam 2e-3,
gradient norm clipped to 5. Images are decoded once (Pillow, resized to IMAGE_SIZE with area
averaging as seqtorch does) and cached as uint8; each step takes BATCH (image, caption) pairs of
a shuffled epoch. Prints one JSON line: images (trained on after 3 warm-up steps), seconds,
images_per_s.
"""
import json
import random
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def words(caption):
    return [w for w in re.split(r"[^a-z0-9'\x80-\xff]+", caption.lower()) if w and w != "'"]


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class Captioner(nn.Module):
    def __init__(self, vocab, C=128, E=128, H=256):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C // 4, 3, 1, 1, bias=False), nn.BatchNorm2d(C // 4), nn.ReLU())
        self.stages = nn.Sequential(Block(C // 4, C // 4, 2), Block(C // 4, C // 2, 2), Block(C // 2, C, 2))
        self.embedding = nn.Embedding(vocab, E, padding_idx=PAD)
        self.lstm = nn.LSTM(E + C, H)
        self.init_h, self.init_c = nn.Linear(C, H), nn.Linear(C, H)
        self.query, self.key, self.score = nn.Linear(H, H), nn.Linear(C, H, bias=False), nn.Linear(H, 1, bias=False)
        self.gate = nn.Linear(H, C)
        self.output = nn.Linear(H, vocab)
        self.dropout = nn.Dropout(0.3)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def forward(self, images, inputs):
        x = (images.float() - self.mean) / self.std
        f = self.stages(self.stem(x)).flatten(2).transpose(1, 2)  # [B, N, C]
        pooled = f.mean(1)
        h, c = torch.tanh(self.init_h(pooled)).unsqueeze(0), torch.tanh(self.init_c(pooled)).unsqueeze(0)
        keys = self.key(f)
        logits, weights = [], []
        for t in range(inputs.size(0)):
            e = self.dropout(self.embedding(inputs[t]))
            q = h[0]
            scores = self.score(torch.tanh(self.query(q).unsqueeze(1) + keys)).squeeze(-1)
            a = torch.softmax(scores, -1)
            context = torch.bmm(a.unsqueeze(1), f).squeeze(1) * torch.sigmoid(self.gate(q))
            out, (h, c) = self.lstm(torch.cat([e, context], 1).unsqueeze(0), (h, c))
            logits.append(self.output(self.dropout(out[0])))
            weights.append(a)
        return torch.stack(logits), torch.stack(weights)


def main():
    image_dir, captions_json, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    size = int(sys.argv[6]) if len(sys.argv) > 6 else 64
    device = torch.device(sys.argv[7] if len(sys.argv) > 7 else "cpu")
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    random.seed(1)
    data = json.load(open(captions_json))
    index = {im["id"]: i for i, im in enumerate(data["images"])}
    caps = [[] for _ in data["images"]]
    for a in data["annotations"]:
        caps[index[a["image_id"]]].append(words(a["caption"]))
    counts = {}
    for cs in caps:
        for c in cs:
            for w in c:
                counts[w] = counts.get(w, 0) + 1
    vocab = {w: i + 4 for i, w in enumerate(sorted((w for w in counts if counts[w] >= 2), key=lambda w: (-counts[w], w)))}
    cache = torch.empty(len(caps), 3, size, size, dtype=torch.uint8)
    for i, im in enumerate(data["images"]):
        x = torch.from_numpy(np.asarray(Image.open(f"{image_dir}/{im['file_name']}").convert("RGB"), dtype=np.uint8).copy())
        x = x.permute(2, 0, 1).unsqueeze(0).float()
        cache[i] = torch.round(F.adaptive_avg_pool2d(x, [size, size])).clamp(0, 255)[0].to(torch.uint8)
    pairs = [(i, [vocab.get(w, UNK) for w in c][:20]) for i, cs in enumerate(caps) for c in cs]
    model = Captioner(len(vocab) + 4).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    order, at = [], 0
    done, start = 0, None
    for step in range(steps + 3):
        if at + batch > len(order):
            order, at = random.sample(range(len(pairs)), len(pairs)), 0
        chosen = [pairs[k] for k in order[at:at + batch]]
        at += batch
        T = max(len(c) for _, c in chosen) + 1
        inputs = torch.zeros(T, len(chosen), dtype=torch.long)
        targets = torch.zeros(T, len(chosen), dtype=torch.long)
        for b, (_, c) in enumerate(chosen):
            inputs[0, b] = BOS
            inputs[1:len(c) + 1, b] = torch.tensor(c, dtype=torch.long)
            targets[:len(c), b] = torch.tensor(c, dtype=torch.long)
            targets[len(c), b] = EOS
        images = cache[torch.tensor([i for i, _ in chosen])].to(device)
        inputs, targets = inputs.to(device), targets.to(device)
        if step == 3:
            start = time.perf_counter()
        logits, weights = model(images, inputs)
        real = targets.view(-1) != PAD
        loss = F.cross_entropy(logits.view(-1, logits.size(2))[real], targets.view(-1)[real], label_smoothing=0.1)
        mask = (targets != PAD).unsqueeze(2).float()
        loss = loss + ((1 - (weights * mask).sum(0)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step >= 3:
            done += len(chosen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({"images": done, "seconds": round(seconds, 3), "images_per_s": done / seconds}))


if __name__ == "__main__":
    main()
