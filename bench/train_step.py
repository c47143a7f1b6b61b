"""Where one training step of the expression model goes on this CPU, in milliseconds.

Run ``python bench/train_step.py [--threads 2] [--batch 128] [--precision fp32|bf16] [--compile]``; the last line is
JSON. One SGD step of the shipped architecture on a batch of random faces with soft targets and ml.train's loss, timed after warm-up
steps: the augmentation, the forward pass alone, and forward + backward + update in the channels-last layout
ml.train uses and in NCHW; ``--compile`` also times the step under ``torch.compile`` (inductor, which costs a
compile of about a minute first). ``gflops_per_s`` counts the conv multiply-adds (2 FLOPs each, the backward twice
the forward). bench/model_speed.py times whole epochs; this says which part of one is worth making faster.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def conv_macs(model, side: int = 48) -> int:
    """Multiply-adds of the model's convs for one side x side face."""
    import torch

    macs = 0
    for layer in model.features:
        if isinstance(layer, torch.nn.MaxPool2d):
            side //= 2
        elif isinstance(layer, torch.nn.Conv2d):
            macs += layer.in_channels * layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1] * side * side
    return macs


def ms_per_call(fn, *, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> None:
    import torch

    from ml.augment import augment
    from ml.config import TrainConfig
    from ml.model import build_model
    from ml.train import _batch_loss

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=TrainConfig().batch_size)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x0 = torch.rand(args.batch, 1, 48, 48)
    t8 = torch.softmax(torch.randn(args.batch, 8), 1)
    y7 = torch.randint(0, 7, (args.batch,))
    m8 = torch.ones(args.batch)
    config = TrainConfig()
    bf16 = args.precision == "bf16"
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    timing = dict(warmup=5, repeats=args.repeats)
    gen = torch.Generator().manual_seed(0)
    figures = {"augment": ms_per_call(lambda: augment(x0, generator=gen), **timing)}
    macs = conv_macs(build_model(config))

    def stepper(layout, compiled: bool):
        model = build_model(config).to(memory_format=layout)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        heads = torch.compile(model.heads) if compiled else model.heads
        x = x0.contiguous(memory_format=layout)

        def forward():
            with torch.no_grad(), autocast():
                heads(x)

        def step():
            with autocast():
                logits, logits7 = heads(x)
            loss = _batch_loss(logits.float(), logits7.float(), t8, m8, y7, None, p8=None, p7=None, use_aux=True,
                               config=config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return forward, step

    forward, step = stepper(torch.channels_last, compiled=False)
    figures["forward_channels_last"] = ms_per_call(forward, **timing)
    figures["step_channels_last"] = ms_per_call(step, **timing)
    figures["step_nchw"] = ms_per_call(stepper(torch.contiguous_format, compiled=False)[1], **timing)
    if args.compile:
        _, compiled_step = stepper(torch.channels_last, compiled=True)
        t0 = time.perf_counter()
        compiled_step()
        figures["compile_seconds"] = time.perf_counter() - t0
        figures["step_compiled"] = ms_per_call(compiled_step, **timing)
    for name, value in figures.items():
        print(f"{name:24s} {value:8.1f} {'s' if name.endswith('seconds') else 'ms'}", flush=True)
    flops = 2 * macs * args.batch
    print(json.dumps({
        "threads": args.threads, "batch": args.batch, "precision": args.precision, "conv_macs_per_face": macs,
        **{f"{k}_ms" if not k.endswith("seconds") else k: round(v, 1) for k, v in figures.items()},
        "gflops_per_s_forward": round(flops / figures["forward_channels_last"] / 1e6, 1),
        "gflops_per_s_step": round(3 * flops / figures["step_channels_last"] / 1e6, 1),
    }))


if __name__ == "__main__":
    main()
