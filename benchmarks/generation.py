"""Generation: where a chunk's time goes, and the real-time factor of the whole chain.

Per chunk: text encoding, VAE encode + noise, denoising, VAE decode, inversion (the stitcher
turning the image into final samples), and the chain's real-time factor (5.12 s / total).
The peer in the same run is the original's setting — PNDM, 50 steps at strength 0.75
(37 steps run) — against riffcast's default, DPM-Solver++ at 25 steps (18 run).

- tiny-random (random weights, tiny networks) on this machine's device: the real code path;
- the procedural ``synth`` generator (render + encode instead of the model);
- the full-size SD 1.5 architecture (riffusion-model-v1's shapes, random weights): on a GPU in
  fp16 when one is present; otherwise on the CPU for ``--cpu-steps`` UNet steps, with the
  UNet's FLOPs per step counted from its operators — a CPU figure, never a GPU one.

Window mode (``benchmarks/window_joins.py``): the same steered stream in whole chunks and in
windows of 128 and 64 columns — seams at the joins and the paint time per second of audio.

Run: ``python benchmarks/generation.py`` (about 3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from riffcast.dsp.codec import MelImage, mel_from_pixels
from riffcast.dsp.params import RIFFUSION_V1 as PARAMS
from riffcast.generation.models import build_full_random, build_tiny_random, pick_device, pick_dtype
from riffcast.generation.riffusion import RiffusionGenerator
from riffcast.generation.seeds import DEFAULT_BED, load_seed
from riffcast.generation.synth import SynthGenerator
from riffcast.generation.types import ImageRequest
from riffcast.pipeline.stitcher import Stitcher
from riffcast.steering.targets import Target

from window_joins import print_window_rows, window_rows

SETTINGS = (("original: PNDM 50 × 0.75", "pndm", 50), ("riffcast: DPM++ 25 × 0.75", "dpm++", 25))
STAGES = ("text", "encode", "denoise", "decode", "render")


def requests(count: int) -> list[ImageRequest]:
    """A transition between two prompts, as the producer asks for it."""
    start = Target.from_text("lofi hip hop beat", seed=1)
    end = Target.from_text("jazz piano, brushed drums", seed=2)
    bed = load_seed(DEFAULT_BED, PARAMS)
    return [ImageRequest(start, end, (index + 1) / count, bed, index=index, start_column=index * PARAMS.chunk_columns)
            for index in range(count)]


def time_chain(generator, chunk_requests: list[ImageRequest]) -> dict[str, float]:
    """Median seconds per stage over the requests (the first, warm-up, chunk left out)."""
    stitcher = Stitcher(PARAMS)
    rows = []
    for request in chunk_requests:
        started = time.perf_counter()
        painted = generator.paint(request)
        painted_at = time.perf_counter()
        stitcher.push(MelImage(mel_from_pixels(painted.image, PARAMS), None))
        row = dict(painted.timings_s)
        row["inversion"] = time.perf_counter() - painted_at
        row["total"] = time.perf_counter() - started
        rows.append(row)
    measured = rows[1:] or rows
    keys = {key for row in measured for key in row}
    return {key: statistics.median(row.get(key, 0.0) for row in measured) for key in keys}


def print_rows(title: str, results: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n## {title}\n")
    print("| setting | " + " | ".join(f"{stage} (s)" for stage in STAGES) + " | inversion (s) | total (s/chunk) | × real time | vs first row |")
    print("|---|" + "---:|" * (len(STAGES) + 4))
    baseline = results[0][1]["total"]
    for name, row in results:
        cells = " | ".join(f"{row[stage]:.3f}" if stage in row else "—" for stage in STAGES)
        print(
            f"| {name} | {cells} | {row['inversion']:.3f} | {row['total']:.3f} "
            f"| {PARAMS.chunk_seconds / row['total']:.2f} | {baseline / row['total']:.2f}× |"
        )


def unet_flops_per_step() -> float:
    """FLOPs of one UNet call at 64×64 latents with classifier-free guidance (batch 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    components = build_full_random(device="meta")
    latents = torch.zeros(2, 4, 64, 64, device="meta")
    text = torch.zeros(2, 77, 768, device="meta")
    with FlopCounterMode(display=False) as counter:
        components.unet(latents, torch.tensor(500, device="meta"), encoder_hidden_states=text)
    return float(counter.get_total_flops())


def full_size_on_cpu(steps: int) -> None:
    components = build_full_random()
    unet, vae = components.unet, components.vae
    latents = torch.randn(2, 4, 64, 64)
    text = torch.randn(2, 77, 768)
    with torch.inference_mode():
        unet(latents, torch.tensor(999), encoder_hidden_states=text)  # warm-up
        started = time.perf_counter()
        for step in range(steps):
            unet(latents, torch.tensor(999 - step), encoder_hidden_states=text)
        per_step = (time.perf_counter() - started) / steps
        started = time.perf_counter()
        vae.decode(latents[:1]).sample
        decode = time.perf_counter() - started
    flops = unet_flops_per_step()
    print("\n## Full-size SD 1.5 architecture (riffusion-model-v1 shapes), random weights — CPU, fp32\n")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| UNet FLOPs per step (batch 2, 64×64 latents) | {flops / 1e12:.2f} TFLOP |")
    print(f"| UNet seconds per step (mean of {steps}) | {per_step:.2f} |")
    print(f"| achieved | {flops / per_step / 1e9:.0f} GFLOP/s |")
    print(f"| VAE decode of one 512×512 chunk | {decode:.2f} s |")
    for name, _, total_steps in SETTINGS:
        run = int(total_steps * 0.75)
        chunk_s = run * per_step + decode
        print(f"| {name}: {run} steps + decode | {chunk_s:.0f} s per chunk = {PARAMS.chunk_seconds / chunk_s:.3f}× real time |")


def full_size_on_gpu(device: str, count: int) -> None:
    dtype = pick_dtype(device)
    components = build_full_random(device=device)
    results = []
    for name, scheduler, steps in SETTINGS:
        generator = RiffusionGenerator(components, device=device, dtype=dtype, steps=steps, scheduler=scheduler, channels_last=True)
        results.append((name, time_chain(generator, requests(count))))
    print_rows(f"Full-size SD 1.5 architecture, random weights — {torch.cuda.get_device_name() if device == 'cuda' else device}, {dtype}", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=5, help="chunks per setting (the first is a warm-up)")
    parser.add_argument("--cpu-steps", type=int, default=2, help="full-size UNet steps timed on a CPU")
    args = parser.parse_args()
    device = pick_device(None)
    print(f"# Generation benchmark — {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {device}")

    tiny = build_tiny_random()
    results = []
    for name, scheduler, steps in SETTINGS:
        generator = RiffusionGenerator(tiny, device=device, dtype=pick_dtype(device), steps=steps, scheduler=scheduler)
        results.append((name, time_chain(generator, requests(args.chunks))))
    results.append(("synth generator", time_chain(SynthGenerator(), requests(args.chunks))))
    print_rows(f"tiny-random and synth on {device}", results)

    fast = RiffusionGenerator(tiny, device=device, dtype=pick_dtype(device), steps=25, scheduler="dpm++")
    print_window_rows(window_rows([("synth", SynthGenerator()), ("tiny-random, DPM++ 25", fast)], chunks=4))

    if device == "cpu":
        full_size_on_cpu(args.cpu_steps)
    else:
        full_size_on_gpu(device, args.chunks)


if __name__ == "__main__":
    main()
