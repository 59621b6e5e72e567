"""PyTorch eager twin of bench/gpu_train_bench.cc on the same GPU.

For one model, batch and the precisions asked for, times a training step
(batch copied from pinned host memory, forward, cross-entropy, backward,
Adam) the way a PyTorch user writes it, then the same step with the 2-D
models in channels-last memory format, and the whole step captured in a CUDA
graph (capturable Adam, static input buffers). Also times the log-mel front
end of the batch on the GPU (torchaudio). Prints one JSON line last.
Run with the python3 that has PyTorch with CUDA.
"""
import argparse
import json

import torch
from torch import nn

from train_bench import MODELS


def median_ms(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):  # five rounds of steps/5; the median round
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(max(1, steps // 5)):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / max(1, steps // 5))
    return sorted(times)[2]


def build(name, width, channels_last):
    torch.manual_seed(0)
    model = MODELS[name](width).cuda()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def eager_step(model, opt, host_x, host_y, dtype, channels_last):
    def step():
        x = host_x.to("cuda", non_blocking=True).unsqueeze(1)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = host_y.to("cuda", non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def graphed_step(model, host_x, host_y, dtype):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    static_x = host_x.cuda()
    static_y = host_y.cuda()

    def body():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16", cache_enabled=False):
            loss = nn.functional.cross_entropy(model(static_x.unsqueeze(1)), static_y)
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        body()

    def step():
        static_x.copy_(host_x, non_blocking=True)
        static_y.copy_(host_y, non_blocking=True)
        graph.replay()
    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="tc_resnet")
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--precisions", default="fp32,bf16")
    a = p.parse_args()
    torch.backends.cudnn.benchmark = False  # LibTorch's default, as in the C++ side
    host_x = torch.randn(a.batch, 98, 40).pin_memory()
    host_y = torch.randint(0, 12, (a.batch,)).pin_memory()
    out = {"model": a.model, "width": a.width, "batch": a.batch,
           "parameters": sum(p.numel() for p in build(a.model, a.width, False).parameters())}
    two_d = a.model != "tc_resnet"
    for dtype in a.precisions.split(","):
        model = build(a.model, a.width, False)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        out[f"eager_{dtype}_ms"] = median_ms(eager_step(model, opt, host_x, host_y, dtype, False), a.steps, a.warmup)
        if two_d:
            model = build(a.model, a.width, True)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            out[f"channels_last_{dtype}_ms"] = median_ms(eager_step(model, opt, host_x, host_y, dtype, True),
                                                         a.steps, a.warmup)
        try:
            model = build(a.model, a.width, False)
            out[f"graph_{dtype}_ms"] = median_ms(graphed_step(model, host_x, host_y, dtype), a.steps, a.warmup)
        except Exception as e:  # report, do not hide, a capture that fails
            out[f"graph_{dtype}_error"] = str(e)[:200]
    try:
        import torchaudio
        mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, win_length=400, hop_length=160,
                                                   n_mels=40, f_min=20, f_max=7600).cuda()
        wave = torch.randn(a.batch, 16000).pin_memory()
        out["gpu_front_end_ms"] = median_ms(lambda: (mel(wave.to("cuda", non_blocking=True)) + 1e-6).log(),
                                            a.steps, a.warmup)
    except Exception as e:
        out["gpu_front_end_error"] = str(e)[:200]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
