"""`python -m rouser`: the package's command line (also installed as the `rouser` command).

`python -m rouser --version` names the installed version; `python -m rouser train ...` trains
one run (`rouser.runs.train.main`; `--help` lists its options).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rouser import __version__


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch to a subcommand; `train` is the only one."""
    parser = argparse.ArgumentParser(
        prog="python -m rouser",
        description="rouser: SNN training with learned per-neuron firing thresholds.",
    )
    parser.add_argument("--version", action="version", version=f"rouser {__version__}")
    parser.add_argument(
        "command", choices=["train"], help="train: one run (python -m rouser train --help)"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the subcommand's options")
    args = parser.parse_args(argv)
    # Imported here: `--version` and `--help` need not load the training stack.
    from rouser.runs.cli import main as train

    train(args.args, program=argv is None)  # argv given: called from Python, not the command


if __name__ == "__main__":
    main()
