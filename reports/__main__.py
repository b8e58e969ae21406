"""``python -m reports --results results/smoke [--plan P] --scope all [--out DIR] [--report report.html]
[--n-boot N] [--partial]``: rebuild a scope's tables, figures and (with ``--report``) the HTML report
from a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from durian.experiment import SCOPES
from reports.build import build
from reports.results import REPORT_ERRORS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument("--results", required=True, type=Path, help="results folder (results/<scale>)")
    parser.add_argument("--plan", type=Path, help="plan.json (default: <results>/plan.json)")
    parser.add_argument("--scope", default="all", choices=list(SCOPES))
    parser.add_argument("--out", type=Path,
                        help="output folder: tables/, figures/ and the report (default: the results folder)")
    parser.add_argument("--report", help="write the HTML report under this file name in the output folder")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--partial", action="store_true",
                        help="leave out (and list in the report) items whose results are missing, instead of failing")
    args = parser.parse_args(argv)
    try:
        built = build(args.results, args.plan, args.scope, out_dir=args.out, report_name=args.report,
                      n_boot=args.n_boot, partial=args.partial)
    except REPORT_ERRORS as err:  # a missing or malformed result file or plan.json: one line naming it
        print(f"error: {err}", file=sys.stderr)
        return 1
    count = sum(len(paths) for kind in ("tables", "figures") for paths in built[kind].values())
    skipped = f", {len(built['skipped'])} item(s) skipped" if built["skipped"] else ""
    print(f"{args.scope}: {count} files{' and the report' if built['report'] else ''} "
          f"in {built['total_seconds']:.1f} s{skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
