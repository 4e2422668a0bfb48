"""An exported NIR graph run by another simulator: an independent check of `rouser.to_nir`.

Why a module apart from the export: the peers (norse 1.1, snnTorch 1.0) are optional
(`requirements-peers.txt`) and only the NIR tests and `workflow/scripts/nir_check.py` run
them; the export itself never needs them.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import nir
import torch

PEERS = ("norse", "snntorch")
# snnTorch 1.0's importer hard-codes this step (import_nir.py: dt = 1e-4) and refuses a
# CubaLIF whose r is not tau_mem / 1e-4.
SNNTORCH_DT = 1e-4


def peer_spikes(graph: nir.NIRGraph, spikes: torch.Tensor, peer: str, dt: float) -> torch.Tensor:
    """Output spikes [T, B, N] of `graph` run by another simulator on input `spikes` [T, B, ...].

    An independent check of an export: the peer builds its own network from the graph and
    is stepped once per time bin from a zero state. "norse" (1.1) keeps every neuron's own
    threshold; "snntorch" (1.0) reads only uniform thresholds and only graphs exported at its
    fixed dt of 1e-4 s. Both peers are optional (requirements-peers.txt).
    """
    if peer not in PEERS:
        raise ValueError(f"peer={peer!r} is not one of {PEERS}")
    frames = spikes.reshape(spikes.shape[0], spikes.shape[1], -1).float().cpu()
    if peer == "norse":
        # norse 1.1 calls torch.jit.script and a nirtorch loader, both deprecated now.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import norse.torch

            network = norse.torch.from_nir(graph, dt=dt)
    else:
        if dt != SNNTORCH_DT:
            raise ValueError(
                f"snnTorch's importer assumes dt={SNNTORCH_DT:g} s; export with "
                f"to_nir(model, dt={SNNTORCH_DT:g}) and pass that dt (got {dt:g})"
            )
        from snntorch.import_nir import import_from_nir

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            network = import_from_nir(graph)
    outputs, state = [], None
    with torch.no_grad():
        for frame in frames:
            if peer == "norse":
                output, state = network(frame, state)
            else:  # snnTorch's neurons keep their state inside the modules
                output, _ = network(frame)
            outputs.append(output)
    return torch.stack(outputs)
