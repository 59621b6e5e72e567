"""PyTorch twin of bench/train_bench.cc: the same model, shapes and optimizer.

Prints samples/s as its last line. Run with Debian's /usr/bin/python3.
"""
import argparse
import time

import torch
from torch import nn


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, groups=1):
        k = (k, k) if isinstance(k, int) else k
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k[0] // 2, k[1] // 2), groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


def ds_cnn(w=64, classes=12, dropout=0.2):
    layers = [ConvBnRelu(1, w, (10, 4), 2)]
    for _ in range(4):
        layers += [ConvBnRelu(w, w, 3, groups=w), ConvBnRelu(w, w, 1)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(w, classes)]
    return nn.Sequential(*layers)


def vgg(w=64, classes=12, dropout=0.2):
    return nn.Sequential(
        ConvBnRelu(1, w // 2, 3), ConvBnRelu(w // 2, w // 2, 3), nn.MaxPool2d(2),
        ConvBnRelu(w // 2, w, 3), ConvBnRelu(w, w, 3), nn.MaxPool2d(2),
        ConvBnRelu(w, 2 * w, 3), ConvBnRelu(2 * w, 2 * w, 3), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(8 * w, 4 * w), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4 * w, classes))


class TcBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 9, stride, 4, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, 9, 1, 4, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class TcResNet(nn.Module):
    """TC-ResNet8 as common/models/zoo.cc builds it: bins as channels, width/16 multiplier."""

    def __init__(self, w=16, classes=12, dropout=0.2, bins=40):
        super().__init__()
        c = lambda base: max(4, base * w // 16)
        self.stem = nn.Conv1d(bins, c(16), 3, 1, 1, bias=False)
        self.blocks = nn.Sequential(TcBlock(c(16), c(24), 2), TcBlock(c(24), c(32), 2), TcBlock(c(32), c(48), 2))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c(48), classes)

    def forward(self, x):  # x: [B, 1, T, F] like the 2-D models take it
        y = self.blocks(self.stem(x.squeeze(1).transpose(1, 2)))
        return self.head(self.dropout(y.mean(2)))


def tc_resnet(w=16, classes=12, dropout=0.2):
    return TcResNet(w, classes, dropout)


MODELS = {"ds_cnn": ds_cnn, "vgg": vgg, "tc_resnet": tc_resnet}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="ds_cnn")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    if a.model not in MODELS:
        raise SystemExit(f"no PyTorch twin for model {a.model}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = MODELS[a.model]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(a.batch, 98, 40).unsqueeze(1)
    y = torch.randint(0, 12, (a.batch,))

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    print(a.steps * a.batch / (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
