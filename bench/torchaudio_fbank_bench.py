#!/usr/bin/env python3
"""torchaudio side of bench/feature_bench (run by the C++ binary, not by hand).

usage: /usr/bin/python3 torchaudio_fbank_bench.py SAMPLES.f32 LENGTHS.i64 key=value ...

SAMPLES.f32 holds every clip's float32 samples back to back, LENGTHS.i64 the
clip lengths (int64). Keys: sample_rate, window_ms, hop_ms, n_mels, f_min,
f_max, n_fft, repeats. On one thread, times over all clips
  kaldi_fbank: torchaudio.compliance.kaldi.fbank (dither 0, defaults otherwise)
  log_mel:     torchaudio.transforms.MelSpectrogram (hann window, htk mel,
               center=False, power 2) then log(x + 1e-6)
after one untimed warm-up pass, and prints JSON with the best wall time of
`repeats` passes and the number of frames produced.
"""
import json
import sys
import time

import numpy as np
import torch
import torchaudio


def main(argv):
    samples_path, lengths_path = argv[1], argv[2]
    opts = dict(arg.split("=", 1) for arg in argv[3:])
    sample_rate = int(opts.get("sample_rate", 16000))
    window_ms = float(opts.get("window_ms", 25.0))
    hop_ms = float(opts.get("hop_ms", 10.0))
    n_mels = int(opts.get("n_mels", 40))
    f_min = float(opts.get("f_min", 20.0))
    f_max = float(opts.get("f_max", 0.0))
    n_fft = int(opts.get("n_fft", 512))
    repeats = int(opts.get("repeats", 3))

    torch.set_num_threads(1)
    data = torch.from_numpy(np.fromfile(samples_path, dtype="<f4"))
    lengths = np.fromfile(lengths_path, dtype="<i8").tolist()
    clips, at = [], 0
    for n in lengths:
        clips.append(data[at : at + n].unsqueeze(0))
        at += n

    def kaldi(clip):
        return torchaudio.compliance.kaldi.fbank(
            clip, dither=0.0, frame_length=window_ms, frame_shift=hop_ms, num_mel_bins=n_mels,
            low_freq=f_min, high_freq=f_max, sample_frequency=float(sample_rate))

    win = round(sample_rate * window_ms / 1000.0)
    hop = round(sample_rate * hop_ms / 1000.0)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, f_min=f_min,
        f_max=f_max if f_max > 0 else None, n_mels=n_mels, window_fn=torch.hann_window, power=2.0,
        center=False, norm=None, mel_scale="htk")

    def log_mel(clip):
        return (mel(clip) + 1e-6).log()

    result = {}
    with torch.inference_mode():
        for name, fn in (("kaldi_fbank", kaldi), ("log_mel", log_mel)):
            frames = sum(fn(c).shape[-2 if name == "kaldi_fbank" else -1] for c in clips)  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for c in clips:
                    fn(c)
                best = min(best, time.perf_counter() - start)
            result[name] = {"wall_s": best, "frames": frames}
    result["torch_threads"] = torch.get_num_threads()
    result["versions"] = f"torch {torch.__version__}, torchaudio {torchaudio.__version__}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
