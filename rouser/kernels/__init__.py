"""The fast loops behind the paper's method: the neuron's sweeps over time and the event product.

Nothing here defines the method; `rouser.dynamics` states the recurrence and the surrogate
(eqs. 1-3) and picks a kernel. Every kernel family computes the same contract, checked by
tests against the readable per-step reference in `rouser.dynamics`:

* `numba_loops`: the neuron's forward (spikes and pre-reset voltage of every step; a fixed-point
  twin in lava-dl's integer arithmetic) and backward (surrogate fused with the two leaky
  integrators in reverse time), as numba loops for the CPU and torch loops for any device;
* `fused_triton`: the same forward and backward, one Triton launch per pass on CUDA;
* `event_product`: a layer's synapse read from the events of its input (N-MNIST bins are
  ~99% empty; hidden layers fire at ~1%), forward and weight gradient over the events only;
* `expf`: the float32 exponential of eq. 2, written out so that numba vectorises it;
* `threads`: one thread count for numba's pool and torch's.
"""
