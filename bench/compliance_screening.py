"""Sanctions screening benchmark: throughput per core and accuracy against an OFAC SDN list.

    .venv/bin/python bench/compliance_screening.py --list ../shared/data/ofac-sdn

Builds the same in-memory index the workers use (app.services.compliance.screening_index) from
the CSV files, then screens
* a positive set generated from the list's own primary names (individuals and entities):
  one typo in a token (substitution, deletion, insertion, transposition; not the first letter,
  not a legal-form word), a token swap (any other order), a dropped middle name (individuals
  with three or more words), and transliteration variants (y/i, kh/h, ou/u, w/v, ks/x, Yelena/
  Elena, -ov/-off, Mohammed/Muhammad...). Recall counts a query whose own entry comes back
  `possible` or `match`.
* a negative set of common first-name x last-name pairs from many countries that are not on the
  list: neither exactly a listed name nor a listed name with one token dropped (those are what a
  dropped-middle-name perturbation produces, so flagging them is required, not a false
  positive). The false-positive rate counts any `possible` or `match`.
Throughput is screenings per CPU-second of one process (time.process_time), names only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain.compliance.matching import Decision, decide  # noqa: E402
from app.domain.compliance.names import NOISE_TOKENS, sorted_form, tokens  # noqa: E402
from app.domain.compliance.sdn import ParsedList, parse  # noqa: E402
from app.services.compliance.screening_index import (  # noqa: E402
    ListedAddress,
    ListedName,
    ScreeningIndex,
)

FIRST = """James John Robert Michael William David Richard Joseph Thomas Charles Mary Patricia
Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emma Olivia Noah Liam Sophia Lucas Hugo
Louis Chloe Camille Lea Manon Jules Pierre Marie Anna Hans Klaus Jurgen Petra Sabine Ursula Giulia
Marco Luca Francesca Alessandro Sofia Pablo Carmen Lucia Javier Alejandro Diego Valentina Camila
Mateo Santiago Wei Fang Jing Li Min Hiroshi Yuki Haruto Sakura Kenji Priya Rahul Amit Sunita Anil
Deepak Olga Irina Natalia Sergei Andrei Pavel Svetlana Tatiana Fatima Aisha Omar Yusuf Khalid
Layla Zainab Ibrahim Chinedu Ngozi Kwame Amara Thabo Lerato Sipho Aroha Mateus Joao Ana Beatriz
Rafael Gabriel Felipe""".split()  # noqa: SIM905 - a word list reads best as text
LAST = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore
Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott
Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Parker
Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey Bell Kelly
Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray James Hughes Price Sanders Myers Long
Ross Foster Dubois Moreau Laurent Lefebvre Bernard Petit Durand Leroy Muller Schmidt Schneider
Fischer Weber Wagner Becker Hoffmann Rossi Russo Ferrari Esposito Bianchi Romano Colombo Fernandez
Lopez Martinez Sanchez Perez Gomez Diaz Alvarez Romero Tanaka Suzuki Takahashi Watanabe Sato
Nakamura Kim Park Choi Chen Wang Liu Zhang Yang Huang Zhao Wu Zhou Patel Sharma Singh Kumar Gupta
Ivanova Smirnov Kuznetsov Popova Sokolov Lebedev Novak Kowalski Nowak Wisniewski Silva Santos
Oliveira Souza Pereira Costa Okafor Mensah Nkosi Dlamini Otieno Mwangi Hansen Nielsen Jensen
Larsen Andersen Johansson Karlsson Nilsson Eriksson Virtanen Korhonen""".split()  # noqa: SIM905
# Romanisation variants as they occur between sources (regex, replacement).
TRANSLIT = [
    (r"y", "i"), (r"i(?=[aeou])", "y"), (r"kh", "h"), (r"\bh", "kh"), (r"ou", "u"), (r"u", "ou"),
    (r"v", "w"), (r"w", "v"), (r"ks", "x"), (r"x", "ks"), (r"sh", "sch"), (r"\bj", "dj"),
    (r"ya", "ia"), (r"yu", "iu"), (r"iy\b", "y"), (r"ii\b", "iy"), (r"y\b", "iy"),
    (r"mohammed", "muhammad"), (r"muhammad", "mohamed"), (r"mohammad", "mohamad"), (r"ph", "f"),
    (r"f", "ph"), (r"q", "k"), (r"k", "q"), (r"dh", "d"), (r"ei", "ey"), (r"\be", "ye"),
    (r"ts", "tz"), (r"oo", "u"), (r"ee", "i"), (r"ov\b", "off"), (r"ev\b", "yev"), (r"ch", "tch"),
    (r"j", "zh"), (r"zh", "j"), (r"ck", "k"), (r"c(?=[aou])", "k"),
]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def load(directory: Path) -> ParsedList:
    def read(name: str) -> str:
        path = directory / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    return parse(read("sdn.csv"), read("alt.csv"), read("add.csv"))


def build_index(parsed: ParsedList) -> ScreeningIndex:
    names = [ListedName(e.uid, n) for e in parsed.entries.values()
             for n in (e.name, *(a.name for a in e.aliases))]
    addresses = [ListedAddress(e.uid, a.currency, a.address) for e in parsed.entries.values()
                 for a in e.crypto_addresses]
    return ScreeningIndex(names, addresses)


def _words(name: str) -> list[str]:
    if "," in name:
        last, first = name.split(",", 1)
        return first.split() + last.split()
    return name.split()


def _typo(words: list[str], rng: random.Random) -> str | None:
    choices = [i for i, w in enumerate(words)
               if len(w) >= 5 and w.isalpha() and w.lower() not in NOISE_TOKENS]
    if not choices:
        return None
    i = rng.choice(choices)
    word = words[i].lower()
    at = rng.randrange(1, len(word) - 1)
    operation = rng.choice("sdit")
    if operation == "s":
        word = word[:at] + rng.choice(LETTERS) + word[at + 1:]
    elif operation == "d":
        word = word[:at] + word[at + 1:]
    elif operation == "i":
        word = word[:at] + rng.choice(LETTERS) + word[at:]
    else:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2:]
    if word == words[i].lower():
        return None
    return " ".join([*words[:i], word, *words[i + 1:]])


def _translit(name: str, rng: random.Random) -> str | None:
    text = " ".join(_words(name)).lower()
    options = [(p, r) for p, r in TRANSLIT if re.search(p, text)]
    if not options:
        return None
    for pattern, replacement in rng.sample(options, min(2, len(options))):
        spots = list(re.finditer(pattern, text))
        if spots:
            spot = rng.choice(spots)
            text = text[:spot.start()] + replacement + text[spot.end():]
    return text if sorted_form(text) != sorted_form(name) else None


def positives(parsed: ParsedList, count: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """(kind, uid, query) perturbations of listed primary names."""
    pool = [e for e in parsed.entries.values() if e.sdn_type in ("individual", "entity")]
    made: list[tuple[str, int, str]] = []
    while len(made) < count:
        entry = rng.choice(pool)
        words = _words(entry.name)
        kind = rng.choice(("typo", "swap", "drop", "translit"))
        query: str | None = None
        if kind == "typo":
            query = _typo(words, rng)
        elif kind == "swap" and len(words) >= 2:
            shuffled = words[:]
            while shuffled == words:
                rng.shuffle(shuffled)
            query = " ".join(shuffled)
        elif kind == "drop" and len(words) >= 3 and entry.sdn_type == "individual":
            at = rng.randrange(1, len(words) - 1)
            query = " ".join(words[:at] + words[at + 1:])
        elif kind == "translit":
            query = _translit(entry.name, rng)
        if query:
            made.append((kind, entry.uid, query))
    return made


def negatives(parsed: ParsedList, count: int, rng: random.Random) -> list[str]:
    listed = [frozenset(tokens(n)) for e in parsed.entries.values()
              for n in (e.name, *(a.name for a in e.aliases))]
    by_token: dict[str, list[frozenset[str]]] = defaultdict(list)
    for token_set in listed:
        for token in token_set:
            by_token[token].append(token_set)
    made: set[str] = set()
    while len(made) < min(count, len(FIRST) * len(LAST) // 2):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        query = frozenset(tokens(name))
        if any(query <= other and len(other) - len(query) <= 1
               for token in query for other in by_token[token]):
            continue  # listed, or a listed name with one token dropped
        made.add(name)
    return sorted(made)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", required=True, type=Path, help="directory with sdn.csv etc.")
    parser.add_argument("--positives", type=int, default=2000)
    parser.add_argument("--negatives", type=int, default=2000)
    parser.add_argument("--match", type=float, default=0.92, help="threshold for `match`")
    parser.add_argument("--possible", type=float, default=0.85, help="threshold for `possible`")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=10, help="print this many misses and FPs")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    started = time.perf_counter()
    parsed = load(args.list)
    index = build_index(parsed)
    build_seconds = time.perf_counter() - started
    pos, neg = positives(parsed, args.positives, rng), negatives(parsed, args.negatives, rng)

    def verdict(query: str) -> list[tuple[int, str, float, Decision]]:
        return [(h.uid, h.matched_name, h.score, decide(h.score, args.match, args.possible))
                for h in index.screen_name(query, floor=args.possible)]

    cpu = time.process_time()
    pos_results = [verdict(q) for _, _, q in pos]
    neg_results = [verdict(q) for q in neg]
    cpu = time.process_time() - cpu
    found, matched, total = Counter[str](), Counter[str](), Counter[str](pos_k for pos_k, *_ in pos)
    misses = []
    for (kind, uid, query), hits in zip(pos, pos_results, strict=True):
        own = [h for h in hits if h[0] == uid]
        if own:
            found[kind] += 1
            matched[kind] += own[0][3] is Decision.MATCH
        else:
            misses.append((kind, parsed.entries[uid].name, query))
    false_pos = [(q, hits[0][1], hits[0][2]) for q, hits in zip(neg, neg_results, strict=True)
                 if hits]
    report = {
        "list_entries": len(parsed.entries), "list_aliases": parsed.alias_count,
        "indexed_names": index.name_count, "index_build_seconds": round(build_seconds, 2),
        "thresholds": {"match": args.match, "possible": args.possible},
        "screenings": len(pos) + len(neg),
        "screenings_per_cpu_second": round((len(pos) + len(neg)) / cpu),
        "recall_possible_or_match": round(sum(found.values()) / len(pos), 4),
        "recall_match": round(sum(matched.values()) / len(pos), 4),
        "recall_by_kind": {k: round(found[k] / total[k], 4) for k in sorted(total)},
        "false_positive_rate": round(len(false_pos) / len(neg), 4),
        "positives": len(pos), "negatives": len(neg),
    }
    print(json.dumps(report, indent=2))
    for kind, listed, query in misses[:args.show]:
        print(f"miss   {kind:8} {query!r} (listed {listed!r})")
    for query, listed, score in false_pos[:args.show]:
        print(f"false+ {query!r} → {listed!r} {score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
