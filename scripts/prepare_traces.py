#!/usr/bin/env python3
"""Re-create the bundled demand data in ``hetserve_env/traces/data/`` from the project's ``shared/data``.

Copies, byte for byte:

    shared/data/azure_llm_trace/AzureLLMInferenceTrace_{code,conv}.csv -> data/azure/
    shared/data/servegen/derived/servegen_{rate_10min,tokens_6h}.csv  -> data/servegen/
    shared/data/servegen/LICENSE                                      -> data/servegen/LICENSE

and checks every file's size and sha256 against ``hetserve_env/traces/bundle.py:MANIFEST``, and the Azure
hashes and the ServeGen sizes also against the ``SOURCE.md`` files they come from, so the provenance stays
reproducible. Then writes ``data/SHA256SUMS`` (``cd hetserve_env/traces/data && sha256sum -c SHA256SUMS``).
``data/ATTRIBUTION.md`` and ``hetserve_env/NOTICE`` are maintained by hand; the script checks they exist.

    python scripts/prepare_traces.py                # copy from ../shared/data (next to the repository)
    python scripts/prepare_traces.py --shared DIR   # another shared/data folder
    python scripts/prepare_traces.py --check        # only verify the bundle already in the package

Nothing is downloaded. Exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("_hetserve_bundle", ROOT / "hetserve_env" / "traces" / "bundle.py")
bundle = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(bundle)  # bundle.py only needs the standard library


def source_md_facts(shared: Path) -> dict[str, tuple[int | None, str | None]]:
    """(bytes, sha256) per file name as stated in the SOURCE.md tables / text (None where not stated)."""
    facts: dict[str, tuple[int | None, str | None]] = {}
    for md in (shared / "azure_llm_trace" / "SOURCE.md", shared / "servegen" / "SOURCE.md"):
        if not md.is_file():
            continue
        text = md.read_text(encoding="utf-8")
        # | `file.csv` | 320,117 | 8,819 | `sha256` |
        for m in re.finditer(r"\|\s*`([^`]+\.csv)`\s*\|\s*([\d,]+)\s*\|[^|]*\|\s*`([0-9a-f]{64})`", text):
            facts[m.group(1)] = (int(m.group(2).replace(",", "")), m.group(3))
        # - `derived/file.csv` (371,348 bytes, 6,336 rows)
        for m in re.finditer(r"`(?:derived/)?([^`/]+\.csv)`\s*\(([\d,]+) bytes", text):
            facts.setdefault(m.group(1), (int(m.group(2).replace(",", "")), None))
    return facts


def verify(path: Path, expected_bytes: int, expected_sha: str, facts: dict) -> list[str]:
    problems = []
    if not path.is_file():
        return [f"{path}: missing"]
    size = path.stat().st_size
    digest = bundle.sha256(path)
    if size != expected_bytes:
        problems.append(f"{path}: {size} bytes, manifest says {expected_bytes}")
    if digest != expected_sha:
        problems.append(f"{path}: sha256 {digest}, manifest says {expected_sha}")
    stated_bytes, stated_sha = facts.get(path.name, (None, None))
    if stated_bytes is not None and stated_bytes != size:
        problems.append(f"{path}: {size} bytes, SOURCE.md says {stated_bytes}")
    if stated_sha is not None and stated_sha != digest:
        problems.append(f"{path}: sha256 {digest}, SOURCE.md says {stated_sha}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="shared/data folder")
    ap.add_argument("--check", action="store_true", help="verify the bundle in the package, copy nothing")
    args = ap.parse_args(argv)

    data = bundle.DATA_DIR
    problems: list[str] = []
    facts = source_md_facts(args.shared) if args.shared.is_dir() else {}
    if not args.check:
        if not args.shared.is_dir():
            print(f"error: {args.shared} not found (use --shared DIR)", file=sys.stderr)
            return 1
        for dest, (src, nbytes, digest) in bundle.MANIFEST.items():
            src_path = args.shared / src
            bad = verify(src_path, nbytes, digest, facts)
            if bad:
                problems += bad
                continue
            target = data / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_path, target)
            print(f"copied {src} -> {target.relative_to(ROOT)}")
    for dest, (_src, nbytes, digest) in bundle.MANIFEST.items():
        problems += verify(data / dest, nbytes, digest, facts)
    for needed in (data / "ATTRIBUTION.md", ROOT / "hetserve_env" / "NOTICE"):
        if not needed.is_file():
            problems.append(f"{needed}: missing (written by hand, see the bundle's licenses)")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    if not args.check:
        sums = "".join(f"{digest}  {dest}\n" for dest, (_s, _n, digest) in sorted(bundle.MANIFEST.items()))
        (data / "SHA256SUMS").write_text(sums, encoding="utf-8")
    print(f"ok: {len(bundle.MANIFEST)} files in {data.relative_to(ROOT)} match their manifest and SOURCE.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
