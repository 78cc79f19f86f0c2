"""The labelled evaluation set of bench/compliance_screening.py, made from a list's own names.

Positives are (kind, entry uid, query); negatives are ordinary names that are not listed. The
perturbations are applied to the raw listed text, not to the screener's normalised form, so the
set does not assume how the screener normalises.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

from app.domain.compliance.names import NOISE_TOKENS, fold, tokens
from app.domain.compliance.sdn import Entry, ParsedList

KINDS = ("typo", "swap", "drop", "translit", "cyrillic", "arabic", "greek", "legal_form",
         "joined", "honorific")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Romanisation variants as they occur between sources (regex, replacement).
TRANSLIT = [
    # u as ou, not the u of an ou already written so: no romanisation writes "oou" (Ayoub is
    # Ayub or Ayoub, never Ayooub)
    (r"y", "i"), (r"i(?=[aeou])", "y"), (r"kh", "h"), (r"\bh", "kh"), (r"ou", "u"),
    (r"(?<!o)u", "ou"),
    (r"v", "w"), (r"w", "v"), (r"ks", "x"), (r"x", "ks"), (r"sh", "sch"), (r"\bj", "dj"),
    (r"ya", "ia"), (r"yu", "iu"), (r"iy\b", "y"), (r"ii\b", "iy"), (r"y\b", "iy"),
    (r"mohammed", "muhammad"), (r"muhammad", "mohamed"), (r"mohammad", "mohamad"), (r"ph", "f"),
    (r"f", "ph"), (r"q", "k"), (r"k", "q"), (r"dh", "d"), (r"ei", "ey"), (r"\be", "ye"),
    (r"ts", "tz"), (r"oo", "u"), (r"ee", "i"), (r"ov\b", "off"), (r"ev\b", "yev"), (r"ch", "tch"),
    (r"j", "zh"), (r"zh", "j"), (r"ck", "k"), (r"c(?=[aou])", "k"),
]
_CYRILLIC = [("shch", "щ"), ("sh", "ш"), ("ch", "ч"), ("kh", "х"), ("zh", "ж"), ("ts", "ц"),
             ("ya", "я"), ("yu", "ю"), ("yo", "ё"), ("ye", "е"), ("a", "а"), ("b", "б"),
             ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("y", "й"),
             ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"),
             ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "к"), ("q", "к"),
             ("w", "в"), ("x", "кс"), ("j", "дж")]
_GREEK = [("th", "θ"), ("ch", "χ"), ("kh", "χ"), ("ps", "ψ"), ("ks", "ξ"), ("ou", "ου"),
          ("sh", "σ"), ("a", "α"), ("b", "μπ"), ("d", "ντ"), ("e", "ε"), ("g", "γκ"), ("i", "ι"),
          ("k", "κ"), ("l", "λ"), ("m", "μ"), ("n", "ν"), ("o", "ο"), ("p", "π"), ("r", "ρ"),
          ("s", "σ"), ("t", "τ"), ("u", "ου"), ("f", "φ"), ("v", "β"), ("z", "ζ"), ("h", "χ"),
          ("y", "ι"), ("j", "τζ"), ("c", "κ"), ("q", "κ"), ("w", "ου"), ("x", "ξ")]
# "ch" is تش, as Arabic writes it in foreign names (تشاد Chad): letter by letter it would be
# ك + ح, which no writer produces.
_ARABIC_CONSONANTS = [("sh", "ش"), ("kh", "خ"), ("th", "ث"), ("dh", "ذ"), ("gh", "غ"),
                      ("ch", "تش"),
                      ("b", "ب"), ("t", "ت"), ("j", "ج"), ("h", "ح"), ("d", "د"), ("r", "ر"),
                      ("z", "ز"), ("s", "س"), ("f", "ف"), ("q", "ق"), ("k", "ك"), ("l", "ل"),
                      ("m", "م"), ("n", "ن"), ("w", "و"), ("y", "ي"), ("g", "غ"), ("p", "ب"),
                      ("v", "ف"), ("c", "ك"), ("x", "كس")]
_ARABIC_DIGRAPHS = 6
# (short, long) legal forms; either way round.
LEGAL_FORMS = [
    ("LTD", "LIMITED"), ("CO", "COMPANY"), ("LLC", "LIMITED LIABILITY COMPANY"),
    ("JSC", "JOINT STOCK COMPANY"), ("S.A.", "SOCIEDAD ANONIMA"),
    ("GMBH", "GESELLSCHAFT MIT BESCHRANKTER HAFTUNG"), ("AG", "AKTIENGESELLSCHAFT"),
    ("OOO", "OBSHCHESTVO S OGRANICHENNOY OTVETSTVENNOSTYU"), ("CORP", "CORPORATION"),
    ("INC", "INCORPORATED"), ("PJSC", "PUBLIC JOINT STOCK COMPANY"),
    ("S.A.R.L.", "SOCIETE A RESPONSABILITE LIMITEE"),
    ("S.R.L.", "SOCIETA A RESPONSABILITA LIMITATA")]
HONORIFICS = ["Haji", "Hajji", "Shaikh", "Sheikh", "Mr", "Dr", "Al-Haj", "Mullah", "Sayyid"]

FIRST = """James John Robert Michael William David Richard Joseph Thomas Charles Mary Patricia
Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Emma Olivia Noah Liam Sophia Lucas Hugo
Louis Chloe Camille Lea Manon Jules Pierre Marie Anna Hans Klaus Jurgen Petra Sabine Ursula Giulia
Marco Luca Francesca Alessandro Sofia Pablo Carmen Lucia Javier Alejandro Diego Valentina Camila
Mateo Santiago Wei Fang Jing Li Min Hiroshi Yuki Haruto Sakura Kenji Priya Rahul Amit Sunita Anil
Deepak Olga Irina Natalia Sergei Andrei Pavel Svetlana Tatiana Fatima Aisha Omar Yusuf Khalid
Layla Zainab Ibrahim Chinedu Ngozi Kwame Amara Thabo Lerato Sipho Aroha Mateus Joao Ana Beatriz
Rafael Gabriel Felipe Oliver George Harry Jack Charlie Jacob Alfie Freddie Oscar Leo Archie Isla
Ava Mia Ivy Lily Grace Freya Ella Florence Poppy Daniel Matthew Andrew Joshua Christopher Kevin
Brian Steven Timothy Jason Jeffrey Ryan Gary Nicholas Eric Stephen Jonathan Larry Scott Frank
Justin Brandon Raymond Gregory Samuel Benjamin Patrick Jack Dennis Jerry Tyler Aaron Nathan Henry
Zachary Douglas Peter Kyle Walter Ethan Jeremy Harold Keith Christian Roger Terry Sean Austin Carl
Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe Bruce Gabriel Logan Albert Willie Alan Juan
Wayne Elijah Randy Roy Vincent Ralph Eugene Russell Bobby Mason Philip Louis Nancy Lisa Betty
Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie
Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Brenda Pamela Nicole Katherine Samantha
Christine Helen Debra Rachel Carolyn Janet Maria Heather Diane Julie Joyce Victoria Kelly Christina
Ruth Joan Virginia Judith Evelyn Cheryl Megan Andrea Hannah Jacqueline Martha Gloria Teresa Sara
Madison Frances Kathryn Janice Jean Abigail Alice Judy Sophie Denise Amber Doris Marilyn Danielle
Beverly Isabella Theresa Diana Natalie Brittany Charlotte Rose Alexis Kayla Lars Sven Erik Ingrid
Astrid Bjorn Nils Karin Lena Jan Piotr Tomasz Krzysztof Agnieszka Katarzyna Magdalena Jakub
Mikhail Dmitri Alexei Yulia Ekaterina Anastasia Hiroko Takeshi Naoko Akira Minh Linh Thanh Hoang
Arjun Vikram Kavya Ananya Rohan Neha Pooja Sanjay Ravi Mehmet Ayse Emre Zeynep Burak Elif
Can""".split()  # noqa: SIM905
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
Larsen Andersen Johansson Karlsson Nilsson Eriksson Virtanen Korhonen Fletcher Holmes Barker
Chapman Knight Hunt Palmer Mills Marshall Webb Simpson Stevens Lloyd Ellis Dixon Gibson Reynolds
Russell Grant Wallace Hamilton Graham Sullivan Wells Cole West Jordan Owens Fisher Ellison Harper
Lambert Fuchs Vogel Wolf Neumann Schwarz Zimmermann Braun Kruger Hartmann Lange Werner Krause
Meier Lehmann Schmitt Schulz Koch Richter Klein Schroder Gallo Conti Ricci Marino Greco Bruno
Fontana Moretti Barbieri Lombardi Rinaldi Caruso Ferrara Garcia Rodriguez Gonzalez Hernandez
Ramirez Torres Flores Rivera Ramos Reyes Morales Ortiz Gutierrez Chavez Ruiz Mendoza Castillo
Vargas Jimenez Moreno Herrera Medina Aguilar Castro Vega Delgado Nguyen Tran Pham Hoang Phan Vu
Dang Bui Do Ho Ngo Duong Yamamoto Kobayashi Ito Kato Yoshida Yamada Sasaki Yamaguchi Matsumoto
Inoue Kimura Hayashi Shimizu Yamazaki Mori Abe Ikeda Hashimoto Reddy Rao Nair Iyer Menon Desai
Joshi Mehta Shah Kapoor Malhotra Chopra Bose Das Yilmaz Kaya Demir Sahin Celik Yildiz Aydin
Ozturk Arslan Dogan Kowalczyk Wojcik Kaminski Lewandowski Zielinski Szymanski Wozniak Dabrowski
Jankowski Mazur Krawczyk Piotrowski Grabowski Pavlov Morozov Volkov Solovyov Vasiliev Zaitsev
Fedorov Mikhailov Belov Tarasov Orlov Andreev Makarov Nikitin Zakharov Borisov Romanov""".split()  # noqa: SIM905
COMPANY_WORDS = """Nordic Atlantic Pacific Global United Summit Pioneer Horizon Evergreen Silver
Golden Maple Cedar Oak River Lake Harbor Coastal Alpine Prairie Metro Urban Royal Crown Eagle
Falcon Phoenix Apex Vertex Zenith Crescent Orion Stellar Quantum Fusion Vector Delta Sigma Omega
Bright Clear Swift Rapid Prime First Central Northern Southern Eastern Western Blue Green Red
Timber Steel Stone Glass Textile Grain Dairy Fruit Coffee Cotton Marine Aero Auto Bio Agro Medi
Tech Data Soft Logic Net Cloud Solar Wind Hydro Power Energy Fuel Petro Chem Pharma Food Water
""".split()  # noqa: SIM905
COMPANY_KINDS = """Trading Logistics Holdings Partners Industries Consulting Solutions Systems
Services Foods Textiles Shipping Imports Exports Capital Ventures Engineering Construction Media
Software Analytics Foundry Works Supplies Distribution Group""".split()  # noqa: SIM905
COMPANY_FORMS = ["Ltd", "LLC", "Inc.", "GmbH", "S.A.", "Limited", "Company", "Corp.", "AG",
                 "B.V.", "Pty Ltd", "S.R.L.", ""]


def _words(name: str) -> list[str]:
    if "," in name:
        last, first = name.split(",", 1)
        return first.split() + last.split()
    return name.split()


def _identity_words(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words)
            if len(w) >= 4 and w.isalpha() and fold(w) not in NOISE_TOKENS]


def _typo(words: list[str], rng: random.Random) -> str | None:
    choices = _identity_words(words)
    if not choices:
        return None
    i = rng.choice(choices)
    word = words[i].lower()
    at = rng.randrange(0, len(word) - 1)
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
    return text if text != " ".join(_words(name)).lower() else None


def _by_table(text: str, table: list[tuple[str, str]]) -> str:
    out, i = [], 0
    while i < len(text):
        for latin, letter in table:
            if text.startswith(latin, i):
                out.append(letter)
                i += len(latin)
                break
        else:
            out.append(text[i] if not text[i].isalpha() else "")
            i += 1
    return "".join(out)


def _greek(text: str) -> str:
    written = _by_table(text, _GREEK)
    return re.sub(r"σ\b", "ς", written)


def _arabic_word(word: str) -> str:
    """Consonants by the table; a word-initial vowel as alif, long and final vowels as their
    letters, short a/e inside the word not written; a doubled consonant written once (its
    shadda is a diacritic, which is not written)."""
    out, i = [], 0
    while i < len(word):
        ch = word[i]
        if i and ch == word[i - 1] and ch not in "aeiou":
            i += 1
            continue
        if ch in "aeiou":
            run = re.match(r"[aeiou]+", word[i:])
            assert run is not None
            vowels = run.group()
            if i == 0:
                out.append("ا")
            elif i + len(vowels) == len(word) or len(vowels) > 1 or vowels in "iou":
                out.append({"a": "ا", "e": "ي", "i": "ي", "o": "و", "u": "و"}[vowels[-1]])
            i += len(vowels)
            continue
        digraphs = dict(_ARABIC_CONSONANTS[:_ARABIC_DIGRAPHS])
        pair = word[i:i + 2]
        out.append(digraphs[pair] if pair in digraphs else _by_table(ch, _ARABIC_CONSONANTS))
        i += 2 if pair in digraphs else 1
    return "".join(out)


def _script(name: str, kind: str) -> str | None:
    text = " ".join(w for w in _words(name)).lower()
    # An apostrophe romanises ʿayn or hamza inside one word (Mu'tassim, Sa'ad): a writer in
    # the script writes one word, not two.
    text = re.sub(r"[^a-z ]", " ", re.sub(r"(?<=[a-z])['`‘’ʼʿ](?=[a-z])",
                                          "", text))
    if kind == "cyrillic":
        return _by_table(text, _CYRILLIC)
    if kind == "greek":
        return _greek(text)
    return " ".join(_arabic_word(w) for w in text.split())


def _legal_form(name: str, rng: random.Random) -> str | None:
    upper = f" {name.upper().replace(',', ' ')} "
    for short, long in rng.sample(LEGAL_FORMS, len(LEGAL_FORMS)):
        for have, want in ((f" {short} ", f" {long} "), (f" {short.replace('.', '')} ",
                                                         f" {long} "),
                           (f" {long} ", f" {short} ")):
            if have in upper:
                return " ".join(upper.replace(have, want, 1).split())
    short, long = rng.choice(LEGAL_FORMS)
    return f"{name} {rng.choice((short, long))}"


def _joined(words: list[str], rng: random.Random) -> str | None:
    spots = [i for i in range(len(words) - 1)
             if words[i].isalpha() and words[i + 1].isalpha()
             and fold(words[i]) not in NOISE_TOKENS and fold(words[i + 1]) not in NOISE_TOKENS]
    if not spots:
        return None
    i = rng.choice(spots)
    return " ".join([*words[:i], words[i] + words[i + 1], *words[i + 2:]])


def _honorific(entry: Entry, words: list[str], rng: random.Random) -> str | None:
    if entry.sdn_type != "individual":
        return None
    if len(words) >= 2 and rng.random() < 0.4:
        at = rng.randrange(1, len(words))
        particle = rng.choice(("bin", "ibn", "al-", "el-"))
        if particle.endswith("-"):
            return " ".join([*words[:at], particle + words[at], *words[at + 1:]])
        return " ".join([*words[:at], particle, *words[at:]])
    return " ".join([rng.choice(HONORIFICS), *words])


def _perturb(kind: str, entry: Entry, name: str, rng: random.Random) -> str | None:
    words = _words(name)
    if kind == "typo":
        return _typo(words, rng)
    if kind == "swap" and len(words) >= 2:
        shuffled = words[:]
        while shuffled == words:
            rng.shuffle(shuffled)
        return " ".join(shuffled)
    if kind == "drop" and len(words) >= 3 and entry.sdn_type == "individual":
        at = rng.randrange(1, len(words) - 1)
        return " ".join(words[:at] + words[at + 1:])
    if kind == "translit":
        return _translit(name, rng)
    if kind in ("cyrillic", "arabic", "greek") and entry.sdn_type == "individual":
        return _script(name, kind)
    if kind == "legal_form" and entry.sdn_type == "entity":
        return _legal_form(name, rng)
    if kind == "joined":
        return _joined(words, rng)
    if kind == "honorific":
        return _honorific(entry, words, rng)
    return None


def positives(parsed: ParsedList, count: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """(kind, uid, query): `count` perturbations of listed names, spread evenly over KINDS."""
    pool = [e for e in parsed.entries.values() if e.sdn_type in ("individual", "entity")]
    made: list[tuple[str, int, str]] = []
    per_kind = max(1, count // len(KINDS))
    for kind in KINDS:
        tries = 0
        have = 0
        while have < per_kind and tries < per_kind * 50:
            tries += 1
            entry = rng.choice(pool)
            strong = [a.name for a in entry.aliases if a.kind == "aka"]
            name = rng.choice([entry.name, *strong])
            if len(tokens(name)) < 2 and kind not in ("legal_form", "typo", "translit"):
                continue
            query = _perturb(kind, entry, name, rng)
            if query:
                made.append((kind, entry.uid, query))
                have += 1
    return made


def negatives(parsed: ParsedList, count: int, rng: random.Random) -> list[str]:
    """Ordinary names, 80 % people (some with a middle name) and 20 % companies: none is a
    listed name or a listed name with tokens left out."""
    listed = [frozenset(tokens(n)) for e in parsed.entries.values()
              for n in (e.name, *(a.name for a in e.aliases))]
    by_token: dict[str, list[frozenset[str]]] = defaultdict(list)
    for token_set in listed:
        for token in token_set:
            by_token[token].append(token_set)
    made: set[str] = set()
    while len(made) < count:
        if rng.random() < 0.8:
            parts = [rng.choice(FIRST)]
            if rng.random() < 0.3:
                parts.append(rng.choice(FIRST))
            parts.append(rng.choice(LAST))
            name = " ".join(parts)
        else:
            name = " ".join(filter(None, (rng.choice(COMPANY_WORDS), rng.choice(COMPANY_WORDS),
                                          rng.choice(COMPANY_KINDS), rng.choice(COMPANY_FORMS))))
        query = frozenset(tokens(name))
        if any(query <= other for token in query for other in by_token[token]):
            continue  # listed, or a listed name with tokens left out
        made.add(name)
    return sorted(made)
