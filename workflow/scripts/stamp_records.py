"""Stamp run records written before records carried a digest: check, then add the digest.

Why: `rouser.runs.records` refuses a finished record without a `digest` (a SHA-256 of the rest of
the record), so that a hand edit is detected. Records trained before digests existed are
stamped once by this script, which first checks everything else about them (`check_record`:
types, ranges, run id = file name = hash of the config, summary = what the history gives)
and then rewrites each through `write_record`, whose only change is the added digest. A
record that is already stamped is checked and left as it is.

    python workflow/scripts/stamp_records.py records/cpu/*.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from rouser.runs.records import RecordError, check_record, record_digest, write_record


def stamp(path: Path) -> bool:
    """Add the digest to the record at `path` once it checks; whether the file changed."""
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(path, f"not valid JSON: {error}") from error
    if not isinstance(record, dict) or "digest" in record:
        check_record(record, path)  # a foreign file or a stamped record: checked, kept
        return False
    check_record({**record, "digest": record_digest(record)}, path)  # all but the digest
    write_record(record, path)
    return True


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Command line entry point (see the module docstring); returns the files stamped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="record files to stamp")
    args = parser.parse_args(argv)
    stamped = [path for path in args.records if stamp(path)]
    print(f"stamped {len(stamped)} of {len(args.records)} records")
    return stamped


if __name__ == "__main__":
    main()
