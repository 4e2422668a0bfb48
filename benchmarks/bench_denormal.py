"""What subnormal floats cost a hidden layer's backward on the CPU, and what flushing saves.

Why: in runs where a layer saturates and the output falls silent (Fig. 6b's Th_init = 0.25,
the baselines of Fig. 2's low thresholds), the surrogate ``exp(-|V - Th| / tau)`` times a
vanishing upstream gradient underflows into subnormal floats. In the 6b run's checkpoint at
epoch 7 (NMNIST-1k), 7.9% of the second hidden layer's input gradient was subnormal and a
training step took 2.0-2.6 s with subnormals kept against 0.41 s with
``torch.set_flush_denormal(True)``; the `cpu` profile's records show such runs at 70-160 s
per epoch against ~11 s for Table I's.

Measured here, interleaved round by round, on that layer's shapes (T = 300 x batch 32 rows,
500 -> 500): the two matrix products of its backward pass (the input gradient and the weight
gradient) with a gradient of which a given share is subnormal, kept and flushed
(the run setting `flush_denormal`). Prints ms of each and the speed-up.

    python benchmarks/bench_denormal.py [--share 0.079] [--rounds 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

ROWS, WIDTH = 300 * 32, 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.079, help="subnormal share")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    grad = torch.randn(ROWS, WIDTH, generator=generator) * 1e-4
    subnormal = torch.rand(ROWS, WIDTH, generator=generator) < args.share
    grad[subnormal] = 1e-40 * torch.sign(torch.randn(int(subnormal.sum()), generator=generator))
    weight = torch.randn(WIDTH, WIDTH, generator=generator) * 0.05
    spikes = (torch.rand(ROWS, WIDTH, generator=generator) < 0.2).float()
    share = float(((grad != 0) & (grad.abs() < torch.finfo(torch.float32).tiny)).float().mean())

    def backward_products() -> None:
        grad @ weight  # dL/d(input spikes)
        grad.t() @ spikes  # dL/dW

    times: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(args.rounds + 1):  # the first round warms up
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                start = time.perf_counter()
                backward_products()
                times[flush].append(time.perf_counter() - start)
    finally:
        torch.set_flush_denormal(False)
    kept, flushed = (statistics.median(times[flag][1:]) for flag in (False, True))
    print(
        f"hidden layer backward products, [{ROWS} x {WIDTH}] gradient with {share:.1%} "
        f"subnormal values, {args.threads} thread(s)"
    )
    print(f"subnormals kept     {1e3 * kept:8.1f} ms")
    print(f"subnormals flushed  {1e3 * flushed:8.1f} ms   speed-up {kept / flushed:.1f}x")


if __name__ == "__main__":
    main()
