"""Sanctions screening benchmark: recall per perturbation, false blocks, throughput, build time.

    .venv/bin/python bench/compliance_screening.py [--list DIR]

The list defaults to the full OFAC SDN snapshot kept (xz-compressed) in bench/data/ofac-sdn;
`--list` takes any directory in the same layout (sdn.csv, alt.csv, add.csv, plain or .xz).
Builds the index the workers use (app.services.compliance.screening_index), then screens
* a labelled positive set made from the list's own names (primary names and published aliases
  of individuals and entities), each perturbed one way: `typo` (one edit in one token),
  `swap` (another token order), `drop` (a middle name left out), `translit` (romanisation
  variants: y/i, kh/h, ou/u, w/v, -ov/-off, Mohammed/Muhammad...), `cyrillic`, `arabic`,
  `greek` (the name written in that script by a letter table; Arabic without short vowels),
  `legal_form` (an entity's legal form long instead of short or the other way, in several
  languages, or added), `joined` (two words written as one), `honorific` (a title or particle
  added: Haji, Shaikh, bin, al-...). Recall counts a query whose own entry comes back `possible`
  or `match` (the gate holds it).
* 100,000 generated ordinary names (people from many countries, and companies) that are not
  listed: neither a listed name nor a listed name with tokens left out. The false-block rate
  is the share decided `match`; precision counts every `possible` or `match` among them.
Throughput is screenings per CPU-second of one process (time.process_time), names only.
Exit status 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.domain.compliance.matching import Decision, decide  # noqa: E402
from app.domain.compliance.sdn import ParsedList, parse  # noqa: E402
from app.services.compliance.name_text import prepare  # noqa: E402
from app.services.compliance.screening_index import (  # noqa: E402
    ListedAddress,
    ListedName,
    ScreeningIndex,
)
from bench import compliance_screening_set as screening_set  # noqa: E402

DEFAULT_LIST = ROOT / "bench" / "data" / "ofac-sdn"
TARGETS = {"recall_each_kind": 0.98, "false_block_rate": 0.0001,
           "screenings_per_cpu_second": 1000, "index_build_seconds": 3.0}


def read_list(directory: Path) -> ParsedList:
    def read(name: str) -> str:
        plain, packed = directory / name, directory / f"{name}.xz"
        if plain.exists():
            return plain.read_text(encoding="utf-8")
        return lzma.decompress(packed.read_bytes()).decode("utf-8") if packed.exists() else ""

    return parse(read("sdn.csv"), read("alt.csv"), read("add.csv"))


def build_index(parsed: ParsedList) -> ScreeningIndex:
    names = [ListedName(e.uid, n) for e in parsed.entries.values()
             for n in (e.name, *(a.name for a in e.aliases))]
    addresses = [ListedAddress(e.uid, a.currency, a.address) for e in parsed.entries.values()
                 for a in e.crypto_addresses]
    return ScreeningIndex(names, addresses)


def run(directory: Path = DEFAULT_LIST, *, positives: int = 4000, negatives: int = 100_000,
        match: float = 0.92, possible: float = 0.85, seed: int = 7, show: int = 0,
        misses_of: tuple[str, ...] = ()) -> dict[str, Any]:
    """Build, screen and measure; returns the figures (and prints misses when `show`, and
    every miss of the kinds in `misses_of`)."""
    parsed = read_list(directory)
    prepare.cache_clear()
    started, started_cpu = time.perf_counter(), time.process_time()
    index = build_index(parsed)
    build_seconds = time.perf_counter() - started
    # CPU seconds as well: on a shared machine the wall clock also counts other people's work
    build_cpu_seconds = time.process_time() - started_cpu
    rng = random.Random(seed)
    pos = screening_set.positives(parsed, positives, rng)
    neg = screening_set.negatives(parsed, negatives, rng)
    prepare.cache_clear()

    def verdict(query: str) -> list[tuple[int, str, float, Decision]]:
        return [(h.uid, h.matched_name, h.score,
                 decide(h.score, match, possible, decisive=h.decisive))
                for h in index.screen_name(query, floor=possible)]

    cpu = time.process_time()
    pos_results = [verdict(q) for _, _, q in pos]
    neg_results = [verdict(q) for q in neg]
    cpu = time.process_time() - cpu
    total = Counter(kind for kind, _, _ in pos)
    found, matched = Counter[str](), Counter[str]()
    misses = []
    for (kind, uid, query), hits in zip(pos, pos_results, strict=True):
        own = [h for h in hits if h[0] == uid]
        if own:
            found[kind] += 1
            matched[kind] += own[0][3] is Decision.MATCH
        else:
            misses.append((kind, parsed.entries[uid].name, query))
    flagged = [(q, hits[0]) for q, hits in zip(neg, neg_results, strict=True) if hits]
    blocked = [(q, h) for q, hits in zip(neg, neg_results, strict=True) for h in hits[:1]
               if any(x[3] is Decision.MATCH for x in hits)]
    true_pos = sum(found.values())
    precision = true_pos / (true_pos + len(flagged)) if true_pos + len(flagged) else 0.0
    recall = true_pos / len(pos)
    report = {
        "list_entries": len(parsed.entries), "list_aliases": parsed.alias_count,
        "indexed_names": index.name_count, "index_build_seconds": round(build_seconds, 2),
        "index_build_cpu_seconds": round(build_cpu_seconds, 2),
        "thresholds": {"match": match, "possible": possible},
        "positives": len(pos), "negatives": len(neg),
        "screenings_per_cpu_second": round((len(pos) + len(neg)) / cpu),
        "recall_by_kind": {k: round(found[k] / total[k], 4) for k in sorted(total)},
        "recall_match_by_kind": {k: round(matched[k] / total[k], 4) for k in sorted(total)},
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if recall else 0.0,
        "flag_rate": round(len(flagged) / len(neg), 5),
        "false_block_rate": round(len(blocked) / len(neg), 6),
        "targets": TARGETS,
    }
    report["targets_met"] = (
        min(report["recall_by_kind"].values()) >= TARGETS["recall_each_kind"]
        and report["false_block_rate"] <= TARGETS["false_block_rate"]
        and report["screenings_per_cpu_second"] >= TARGETS["screenings_per_cpu_second"]
        and min(report["index_build_seconds"], report["index_build_cpu_seconds"])
        <= TARGETS["index_build_seconds"])
    for kind, listed, query in misses[:show]:
        print(f"miss   {kind:10} {query!r} (listed {listed!r})")
    for kind, listed, query in misses:
        if kind in misses_of:
            print(f"miss-{kind} {query!r} (listed {listed!r})")
    for query, hit in blocked[:show]:
        print(f"block  {query!r} → {hit[1]!r} {hit[2]}")
    for query, hit in flagged[:show]:
        print(f"flag   {query!r} → {hit[1]!r} {hit[2]} {hit[3]}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST,
                        help="directory with sdn.csv, alt.csv, add.csv (or .xz)")
    parser.add_argument("--positives", type=int, default=4000)
    parser.add_argument("--negatives", type=int, default=100_000)
    parser.add_argument("--match", type=float, default=0.92, help="threshold for `match`")
    parser.add_argument("--possible", type=float, default=0.85, help="threshold for `possible`")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=10, help="print this many misses and FPs")
    parser.add_argument("--misses", action="append", default=[], choices=screening_set.KINDS,
                        help="print every miss of this perturbation kind (repeatable)")
    args = parser.parse_args()
    report = run(args.list, positives=args.positives, negatives=args.negatives,
                 match=args.match, possible=args.possible, seed=args.seed, show=args.show,
                 misses_of=tuple(args.misses))
    print(json.dumps(report, indent=2))
    return 0 if report["targets_met"] else 3


if __name__ == "__main__":
    sys.exit(main())
