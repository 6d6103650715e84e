"""Write docs/scenario-reference.md from the scenario validator's own tables (hetserve_env.scenario_reference).

    python scripts/make_scenario_reference.py           # rewrite the page
    python scripts/make_scenario_reference.py --check   # exit 1 if the committed page differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hetserve_env.scenario_reference import render  # noqa: E402

PAGE = ROOT / "docs" / "scenario-reference.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed page instead of writing it")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        same = PAGE.exists() and PAGE.read_text() == text
        print(f"{PAGE.relative_to(ROOT)} is {'up to date' if same else 'OUT OF DATE: run this script'}")
        return 0 if same else 1
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
