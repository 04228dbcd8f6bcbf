#!/usr/bin/env python3
"""Seed corpora of the fuzz harnesses (scripts/fuzz.sh): one folder per harness under OUT.

Each folder gets the committed seeds of tests/fuzz/seeds/<harness>/ and, per harness:
  checkpoint  demucs checkpoints of SHARED/demucs/models (the small ones), the MSST .ckpt files
              of SHARED/roformer/models with their storages cut to 64 bytes (the reader refuses
              them after the zip and the pickle, before any storage), and small synthetic
              checkpoints written here as torch.save writes them (protocols 2 and 4, every
              storage type, views, big-endian storages)
  pickle      data.pkl of those real and synthetic checkpoints (fuzz_pickle wraps the input in a
              zip with storages 0: 16 float32, 1: 16 float16, 2: 8 float64, as the synthetic
              pickles expect)
  bag         SHARED/demucs/models/*.yaml
  audio       short WAV and AIFF files cut from SHARED/audio/drums/break12.wav (a synthetic
              tone without it): PCM 8/16/24/32, float32, WAVE_FORMAT_EXTENSIBLE, a truncated one
Everything from SHARED is optional: without it the committed and synthetic seeds remain.
"""

import argparse
import array
import collections
import fractions
import io
import math
import pickle
import shutil
import struct
import sys
import types
import wave
import zipfile
import zlib
from pathlib import Path

HARNESSES = ["checkpoint", "pickle", "bag", "manifest", "enhance_config", "mix_settings", "audio"]
# Larger checkpoints (rand0000: 84 MB) would only slow the fuzzer down.
MAX_CHECKPOINT_BYTES = 1 << 20
STORAGE_CUT_BYTES = 64


# ------------------------------------------------------------------------------------------------
# torch.save's zip layout: stored entries, data aligned to 64 bytes, zip64 end records.

def write_zip(entries, zip64=True, align=64):
    out, cd = bytearray(), bytearray()
    for name, data in entries:
        name = name.encode()
        offset = len(out)
        extra = b""
        if align:
            pad = -(offset + 30 + len(name) + 4) % align
            extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        crc = zlib.crc32(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data),
                           len(name), len(extra)) + name + extra + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data),
                          len(data), len(name), 0, 0, 0, 0, 0, offset) + name
    cd_offset = len(out)
    out += cd
    if zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries),
                           len(cd), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd),
                           cd_offset, 0)
    return bytes(out)


# ------------------------------------------------------------------------------------------------
# Synthetic checkpoints: the classes torch and demucs would pickle, stood in for by modules of
# the same names, so that Python's own pickler writes the bytes.

def fake_module(name, **members):
    module = types.ModuleType(name)
    for key, value in members.items():
        value.__module__ = name
        value.__qualname__ = key
        setattr(module, key, value)
    sys.modules[name] = module
    return module


def _rebuild_tensor_v2(*args):
    raise NotImplementedError


def _never(*args):
    raise NotImplementedError


TORCH = fake_module("torch", HalfStorage=type("HalfStorage", (), {}),
                    FloatStorage=type("FloatStorage", (), {}),
                    DoubleStorage=type("DoubleStorage", (), {}))
TORCH_UTILS = fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2)
fake_module("demucs")
HTDEMUCS = fake_module("demucs.htdemucs", HTDemucs=type("HTDemucs", (), {}))
HDEMUCS = fake_module("demucs.hdemucs", HDemucs=type("HDemucs", (), {}))
fake_module("omegaconf")
OMEGACONF = fake_module("omegaconf.dictconfig", DictConfig=type("DictConfig", (), {}))


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class Tensor:
    def __init__(self, storage, offset, shape, strides):
        self.args = (storage, offset, tuple(shape), tuple(strides), False,
                     collections.OrderedDict())

    def __reduce__(self):
        return (TORCH_UTILS._rebuild_tensor_v2, self.args)


class Opaque:
    """Something training_args may hold that the reader does not know (pickled with BUILD)."""

    def __reduce__(self):
        return (OMEGACONF.DictConfig, (), {"content": {"lr": 3e-4, "epochs": 360}})


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


# The storages fuzz_pickle puts beside its input (tests/fuzz/fuzz_pickle.cpp).
STORAGES = {"0": (TORCH.FloatStorage, 16, "<f"), "1": (TORCH.HalfStorage, 16, "<e"),
            "2": (TORCH.DoubleStorage, 8, "<d")}


def storage(key):
    kind, numel, _ = STORAGES[key]
    return Storage(kind, key, numel)


def storage_bytes(key, big_endian=False):
    _, numel, fmt = STORAGES[key]
    fmt = (">" if big_endian else "<") + fmt[1:]
    return b"".join(struct.pack(fmt, i / 4 - 1) for i in range(numel))


def model(klass=None, training_args=None, extra_kwargs=None):
    kwargs = {"sources": ["drums", "bass", "other", "vocals"], "audio_channels": 2,
              "samplerate": 44100, "segment": fractions.Fraction(39, 5), "channels": 4,
              "depth": 2, "dconv_mode": 1, "use_train_segment": True, "t_dropout": 0.0,
              "bottom_channels": None, "nested": {"a": [1, 2.5, None, True, "x", (3, -4)]}}
    kwargs.update(extra_kwargs or {})
    state = collections.OrderedDict([
        ("encoder.0.weight", Tensor(storage("0"), 0, (4, 4), (4, 1))),
        ("encoder.0.bias", Tensor(storage("1"), 2, (2, 3), (1, 2))),      # strided view
        ("decoder.0.weight", Tensor(storage("2"), 0, (8,), (1,))),
        ("decoder.0.scale", Tensor(storage("0"), 5, (), ())),              # scalar
        ("decoder.0.empty", Tensor(storage("1"), 0, (0, 3), (3, 1))),
        ("tied.weight", Tensor(storage("0"), 8, (2, 2, 2), (1, 4, 2))),   # permuted view
    ])
    return {"klass": klass or HTDEMUCS.HTDemucs, "args": (), "kwargs": kwargs, "state": state,
            "training_args": training_args if training_args is not None else {}}


def synthetic_pickles():
    """(name, data.pkl bytes) of checkpoints with storages 0, 1 and 2."""
    cases = [
        ("p2", 2, model()),
        ("p4", 4, model(training_args={"opaque": Opaque(), "set": {1, 2}, "fs": frozenset([3]),
                                       "bytes": b"\x00\x01", "big": 2 ** 70, "neg": -(2 ** 40)})),
        ("p3-hdemucs", 3, model(klass=HDEMUCS.HDemucs,
                                extra_kwargs={"segment": fractions.Fraction(44), "rescale": 0.1})),
        ("p2-shared", 2, model(extra_kwargs={"shared": [[1], [1]]})),
    ]
    out = []
    for name, protocol, obj in cases:
        buf = io.BytesIO()
        TorchPickler(buf, protocol=protocol).dump(obj)
        out.append((name, buf.getvalue()))
    # Text opcodes of protocol 0 (INT, FLOAT, MARK/DICT, PUT/GET) in a dict that is not a model.
    out.append(("p0-plain", pickle.dumps({"a": [1, 2.5, "s", None, True], "b": (1,)}, protocol=0)))
    return out


def synthetic_checkpoint(pkl, big_endian=False):
    entries = [("archive/data.pkl", pkl)]
    entries += [("archive/data/" + key, storage_bytes(key, big_endian)) for key in STORAGES]
    entries += [("archive/byteorder", b"big" if big_endian else b"little"),
                ("archive/version", b"3\n")]
    return write_zip(entries)


# ------------------------------------------------------------------------------------------------
# Real checkpoints from SHARED.

def cut_storages(path):
    """The zip's entries in order, storages cut to STORAGE_CUT_BYTES."""
    with zipfile.ZipFile(path) as z:
        entries = []
        for info in z.infolist():
            data = z.read(info)
            if "/data/" in info.filename:
                data = data[:STORAGE_CUT_BYTES]
            entries.append((info.filename, data))
    return write_zip(entries)


def data_pkl(path):
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return z.read(name)


# ------------------------------------------------------------------------------------------------
# Audio.

def excerpt(shared, seconds=0.05):
    """(rate, channels, list of int16 frames as tuples) from break12.wav, or a synthetic tone."""
    src = shared / "audio" / "drums" / "break12.wav" if shared else None
    if src and src.is_file():
        with wave.open(str(src)) as w:
            if w.getsampwidth() == 2:
                rate, channels = w.getframerate(), w.getnchannels()
                w.setpos(min(rate, w.getnframes()))
                raw = array.array("h", w.readframes(int(rate * seconds)))
                return rate, channels, [tuple(raw[i:i + channels])
                                        for i in range(0, len(raw), channels)]
    rate = 44100
    return rate, 2, [(int(8000 * math.sin(i * 0.05)), int(8000 * math.sin(i * 0.07)))
                     for i in range(int(rate * seconds))]


def riff(chunks, form=b"WAVE"):
    body = b"".join(tag + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
                    for tag, data in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + form + body


def samples(frames, bits, as_float=False):
    out = bytearray()
    for frame in frames:
        for s in frame:
            if as_float:
                out += struct.pack("<f", s / 32768)
            elif bits == 8:
                out += struct.pack("<B", (s >> 8) + 128)
            else:
                out += (s << (bits - 16)).to_bytes(bits // 8, "little", signed=True)
    return bytes(out)


def wav(rate, channels, frames, bits=16, as_float=False, extensible=False, extra_chunks=()):
    data = samples(frames, bits, as_float)
    align = channels * bits // 8
    tag = 3 if as_float else 1
    if extensible:
        guid = struct.pack("<I", tag) + bytes.fromhex("000000001000800000aa00389b71")
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22,
                          bits, (1 << channels) - 1) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    chunks = [(b"fmt ", fmt)]
    if as_float:
        chunks.append((b"fact", struct.pack("<I", len(frames))))
    chunks += list(extra_chunks) + [(b"data", data)]
    return riff(chunks)


def aiff(rate, channels, frames):
    data = b"".join(struct.pack(">" + "h" * channels, *f) for f in frames)
    exponent = int(math.floor(math.log2(rate)))
    mantissa = int(rate * 2 ** (63 - exponent))
    rate80 = struct.pack(">HQ", 16383 + exponent, mantissa)
    comm = struct.pack(">hIh", channels, len(frames), 16) + rate80
    ssnd = struct.pack(">II", 0, 0) + data
    body = (b"COMM" + struct.pack(">I", len(comm)) + comm
            + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd)
    return b"FORM" + struct.pack(">I", 4 + len(body)) + b"AIFF" + body


def audio_seeds(shared):
    rate, channels, frames = excerpt(shared)
    mono = [f[:1] for f in frames]
    info = (b"LIST", b"INFO" + b"INAM" + struct.pack("<I", 6) + b"break\0")
    full = wav(rate, channels, frames)
    return {
        "pcm16-stereo.wav": full,
        "pcm16-mono.wav": wav(rate, 1, mono, extra_chunks=[info]),
        "pcm8-mono.wav": wav(rate, 1, mono[:500], bits=8),
        "pcm24-stereo.wav": wav(48000, channels, frames[:800], bits=24),
        "pcm32-mono.wav": wav(rate, 1, mono[:600], bits=32),
        "float32-stereo.wav": wav(rate, channels, frames[:1000], as_float=True),
        "extensible-pcm16.wav": wav(rate, channels, frames[:700], extensible=True),
        "extensible-float32.wav": wav(rate, 1, mono[:700], as_float=True, bits=32,
                                      extensible=True),
        # The header promises all frames, the file holds a third of them.
        "truncated-pcm16.wav": full[:44 + len(frames) * 4 // 3],
        "pcm16-mono.aiff": aiff(rate, 1, mono[:900]),
    }


# ------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, help="the shared fixtures (../shared)")
    parser.add_argument("--out", type=Path, required=True, help="corpus root: OUT/<harness>/")
    parser.add_argument("harnesses", nargs="*", default=HARNESSES,
                        help="names without fuzz_ (default: all)")
    args = parser.parse_args()
    shared = args.shared if args.shared and args.shared.is_dir() else None
    committed = Path(__file__).resolve().parent / "seeds"

    for harness in args.harnesses:
        if harness not in HARNESSES:
            parser.error(f"unknown harness '{harness}'")
        out = args.out / harness
        out.mkdir(parents=True, exist_ok=True)
        seeds = {}
        if harness in ("checkpoint", "pickle"):
            for name, pkl in synthetic_pickles():
                if harness == "pickle":
                    seeds[f"synthetic-{name}.pkl"] = pkl
                else:
                    seeds[f"synthetic-{name}.th"] = synthetic_checkpoint(pkl)
            if harness == "checkpoint":
                seeds["synthetic-big-endian.th"] = synthetic_checkpoint(
                    synthetic_pickles()[0][1], big_endian=True)
            if shared:
                for path in sorted((shared / "demucs" / "models").glob("*.th")):
                    if path.stat().st_size <= MAX_CHECKPOINT_BYTES:
                        if harness == "pickle":
                            seeds[path.stem + ".pkl"] = data_pkl(path)
                        else:
                            # Without the hash in its name: that check would stop every mutant.
                            seeds[path.stem.rsplit("-", 1)[0] + ".th"] = path.read_bytes()
                for path in sorted((shared / "roformer" / "models").glob("*.ckpt")):
                    if harness == "pickle":
                        seeds[path.stem + ".pkl"] = data_pkl(path)
                    else:
                        seeds[path.stem + "-cut.ckpt"] = cut_storages(path)
        elif harness == "bag" and shared:
            for path in sorted((shared / "demucs" / "models").glob("*.yaml")):
                seeds[path.name] = path.read_bytes()
        elif harness == "audio":
            seeds.update(audio_seeds(shared))
        for name, data in seeds.items():
            (out / name).write_bytes(data)
        if (committed / harness).is_dir():
            for path in sorted((committed / harness).iterdir()):
                if path.is_file():
                    shutil.copyfile(path, out / path.name)
        count = sum(1 for p in out.iterdir() if p.is_file())
        print(f"make_seeds.py: {harness}: {count} seeds"
              + ("" if shared else " (no shared fixtures)"), file=sys.stderr)


if __name__ == "__main__":
    main()
