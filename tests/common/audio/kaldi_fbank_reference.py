#!/usr/bin/env python3
"""Reference Kaldi fbank for the C++ parity test (tests/common/audio/features_test.cc).

usage: /usr/bin/python3 kaldi_fbank_reference.py IN.wav OUT.bin key=value ...

IN.wav is mono 16-bit PCM. Its samples are scaled to floats exactly as
libsndfile does (int16 / 32768), so torchaudio sees the same float values in
[-1, 1] that Chorus computes on. Keys: window_ms, hop_ms, n_mels, f_min, f_max
(the FeatureOptions names). OUT.bin gets int32 rows, int32 cols, then
rows*cols float32 values (little-endian, row-major) of
torchaudio.compliance.kaldi.fbank with dither 0 and defaults otherwise.
"""
import sys
import wave

import numpy as np
import torch
import torchaudio


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    in_path, out_path = argv[1], argv[2]
    opts = dict(arg.split("=", 1) for arg in argv[3:])
    with wave.open(in_path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            print(f"{in_path}: expected mono 16-bit PCM", file=sys.stderr)
            return 1
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = torch.from_numpy(pcm.astype(np.float32) / np.float32(32768.0))
    torch.set_num_threads(1)
    feats = torchaudio.compliance.kaldi.fbank(
        samples.unsqueeze(0),
        dither=0.0,
        frame_length=float(opts.get("window_ms", 25.0)),
        frame_shift=float(opts.get("hop_ms", 10.0)),
        num_mel_bins=int(opts.get("n_mels", 23)),
        low_freq=float(opts.get("f_min", 20.0)),
        high_freq=float(opts.get("f_max", 0.0)),
        sample_frequency=float(rate),
    )
    feats = feats.contiguous().numpy().astype("<f4")
    with open(out_path, "wb") as out:
        out.write(np.array(feats.shape, dtype="<i4").tobytes())
        out.write(feats.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
