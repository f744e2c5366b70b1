"""XMPP user names (localparts) derived from back-office user names, and passwords.

Pure functions, no I/O:

- :func:`localpart_for` (``username, *, taken``) → the localpart for one user;
- :func:`assign_localparts` (``usernames, *, taken``) → localparts for many, distinct;
- :func:`nodeprep` — Prosody's own normalisation of localparts (RFC 3920 nodeprep);
- :func:`generate_password` — a random 192-bit, URL-safe password.

How a user name becomes a localpart (deterministic)::

    "Inès.Moreau"        -> "ines.moreau"       accents removed, case folded
    "Jean Pierre"        -> "jean-pierre"       forbidden characters become "-"
    "O'Brien"            -> "obrien"            apostrophes and quotes are dropped
    "ＡＬＩＣＥ"          -> "alice"             compatibility forms (NFKC)
    "Ærøskøbing"         -> "aeroskobing"       Latin letters without decomposition
    "Дмитрий"            -> "дмитрий"           other scripts kept when no ASCII form
    "🎭"                 -> "user"              nothing usable left
    "ines" with "ines" taken -> "ines-2", then "ines-3"…

1. NFKC, then case folding (Unicode's full case folding), then NFKC again.
2. Each letter with its combining marks is reduced to ASCII when removing the marks
   (NFKD) leaves only ASCII, or through a small table for Latin letters that have no
   decomposition (æ, ø, ł, đ, þ…); decimal digits of any script become ASCII digits.
   Other letters (Cyrillic, Greek, CJK, Arabic…) are kept, with their marks.
3. ASCII letters and digits and ``.``, ``_`` and ``-`` are kept; apostrophes, quotes and
   invisible format characters are removed; everything else — the characters RFC 7622 and
   nodeprep forbid (``"&'/:<>@``, spaces, controls), other punctuation, symbols, emoji —
   separates words: runs of separators collapse to one (``-`` when mixed) and the ends
   are trimmed.
4. Right-to-left scripts follow the bidi rule of nodeprep (RFC 3454 §6): a localpart with
   Arabic or Hebrew letters may hold no left-to-right letter and must begin and end with a
   right-to-left letter.  A name mixing both keeps its left-to-right part; the neutral
   characters at the ends of a right-to-left name are trimmed.
5. Length: at most 1023 bytes of UTF-8 (RFC 7622), and at most
   :data:`MAX_STORED_NAME_LENGTH` once encoded as Prosody's internal storage names its
   files (each byte other than an ASCII letter or digit takes three characters; measured:
   Prosody 0.12 fails to save an account whose file name would pass 255 bytes).  Long
   names are cut between letters, never inside a letter with its marks.
6. Nothing left: ``"user"``.  Collisions with ``taken``: ``-2``, ``-3``… (cutting the name
   to make room).  A right-to-left localpart cannot end with ``-2``: its collisions use
   ``user-2``, ``user-3``…

The result is always a fixed point of :func:`nodeprep` (checked), so Prosody stores the
account under exactly this name, and valid under RFC 7622's UsernameCaseMapped profile.
"""

from __future__ import annotations

import secrets
import stringprep
import unicodedata
from collections.abc import Collection, Iterable

#: RFC 7622: a localpart is at most 1023 bytes of UTF-8.
MAX_LOCALPART_BYTES = 1023
#: Longest localpart once encoded as Prosody's internal storage names its files
#: (``%xx`` for every byte but ASCII letters and digits), leaving room for the longest
#: file suffix it adds (``.list~``) under the usual 255-byte file name limit.
MAX_STORED_NAME_LENGTH = 240
#: The localpart of a user name that gives nothing usable.
FALLBACK = "user"
#: Random bytes in a generated password (192 bits).
PASSWORD_BYTES = 24

_SEPARATORS = frozenset("-._")
#: Removed without separating words: apostrophes, quotes, the acute and grave accents.
_DROPPED = frozenset("'\"`´‘’‚‛′ʼʹ“”„‟″")
#: Characters nodeprep prohibits in addition to the stringprep tables (RFC 3920, A.5).
_NODEPREP_PROHIBITED = frozenset("\"&'/:<>@")
#: Latin letters (after case folding) with no decomposition to ASCII.
_LATIN = {
    "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ŋ": "ng", "ħ": "h", "ŧ": "t", "ĸ": "k", "ſ": "s", "ß": "ss",
    "ƒ": "f", "ɖ": "d", "ɛ": "e", "ɔ": "o", "ʃ": "sh", "ʒ": "z", "ȿ": "s",
    "ɐ": "a", "ɑ": "a", "ə": "e", "ɨ": "i", "ʉ": "u", "ƀ": "b", "ƚ": "l", "ƶ": "z",
}  # fmt: skip


# --- nodeprep ----------------------------------------------------------------------------


def nodeprep(text: str) -> str | None:
    """RFC 3920 nodeprep, as Prosody applies it to localparts; None if prohibited.

    Debian's Prosody runs ICU's stringprep, allowing code points unassigned in Unicode
    3.2 (they pass unchanged).  The tables are the standard library's :mod:`stringprep`
    (Unicode 3.2); the bidi rule uses today's bidi classes, as ICU does.  Checked against
    Prosody's own nodeprep in ``tests/managed_server/test_localparts_prosody.py``.
    """
    if text.isascii():  # the common case, quickly: only lower case and prohibitions
        lowered = text.lower()
        if any(char in _NODEPREP_PROHIBITED or not char.isprintable() for char in lowered):
            return None
        return None if " " in lowered else lowered
    mapped = "".join(_map_b2(char) for char in text if not stringprep.in_table_b1(char))
    prepped = _nfkc_3_2(mapped)
    for char in prepped:
        if char in _NODEPREP_PROHIBITED or _prohibited(char):
            return None
    # The bidi rule (RFC 3454 §6), with today's classes rather than tables D.1 and D.2.
    if any(_is_rtl(char) for char in prepped):
        if any(unicodedata.bidirectional(char) == "L" for char in prepped):
            return None
        if not (_is_rtl(prepped[0]) and _is_rtl(prepped[-1])):
            return None
    return prepped


def _nfkc_3_2(text: str) -> str:
    """NFKC as of Unicode 3.2, as Prosody's stringprep computes it.

    ``unicodedata.ucd_3_2_0.normalize`` orders the combining marks added since 3.2 by
    today's combining classes.  In Unicode 3.2 they are unassigned: class 0, composing
    with nothing — boundaries of normalisation.  So each stretch between them is
    normalised alone and they are kept in place.
    """
    result: list[str] = []
    stretch: list[str] = []
    for char in text:
        if stringprep.in_table_a1(char):
            result.append(unicodedata.ucd_3_2_0.normalize("NFKC", "".join(stretch)))
            result.append(char)
            stretch = []
        else:
            stretch.append(char)
    result.append(unicodedata.ucd_3_2_0.normalize("NFKC", "".join(stretch)))
    return "".join(result)


def _map_b2(char: str) -> str:
    """Table B.2 (case folding for NFKC) as of Unicode 3.2.

    :func:`stringprep.map_table_b2` folds with today's case mappings: a character new
    since Unicode 3.2 (table A.1), or one whose lowercase is new, is left alone instead.
    """
    if stringprep.in_table_a1(char):
        return char
    mapped = stringprep.map_table_b2(char)
    return char if any(stringprep.in_table_a1(part) for part in mapped) else mapped


def _prohibited(char: str) -> bool:
    return (
        stringprep.in_table_c11(char)
        or stringprep.in_table_c12(char)
        or stringprep.in_table_c21(char)
        or stringprep.in_table_c22(char)
        or stringprep.in_table_c3(char)
        or stringprep.in_table_c4(char)
        or stringprep.in_table_c5(char)
        or stringprep.in_table_c6(char)
        or stringprep.in_table_c7(char)
        or stringprep.in_table_c8(char)
        or stringprep.in_table_c9(char)
    )


# --- folding ----------------------------------------------------------------------------


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


#: Blocks whose unassigned code points default to a right-to-left bidi class (Unicode's
#: DerivedBidiClass.txt); ICU, and so Prosody, treats them as such.
_RTL_BLOCKS = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF), (0x10800, 0x10FFF),
               (0x1E800, 0x1EFFF))  # fmt: skip


def _is_rtl(char: str) -> bool:
    bidi = unicodedata.bidirectional(char)
    if not bidi:
        return any(start <= ord(char) <= end for start, end in _RTL_BLOCKS)
    return bidi in ("R", "AL")


def _clusters(text: str) -> list[str]:
    """``text`` cut into a base character followed by its combining marks."""
    clusters: list[str] = []
    for char in text:
        if clusters and _is_mark(char) and not _is_variation_selector(char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _is_variation_selector(char: str) -> bool:
    return unicodedata.name(char, "").startswith("VARIATION SELECTOR")


def _fold_cluster(cluster: str) -> str | None:
    """A cluster as kept characters ("" to drop it), or None for a word separator."""
    base = cluster[0]
    if base.isascii():  # combining marks on an ASCII character are dropped
        if base.isalnum():
            return base
        if base in _SEPARATORS:
            return base
        return "" if base in _DROPPED else None
    if base in _DROPPED or _is_variation_selector(base):
        return ""
    category = unicodedata.category(base)
    if category == "Cf":  # zero-width joiners, bidi marks…: invisible, nodeprep drops some
        return ""
    if category == "Nd":
        return str(unicodedata.decimal(base))
    if not category.startswith("L"):
        return None  # punctuation, symbols, emoji, spaces, controls, unassigned…
    stripped = "".join(
        char for char in unicodedata.normalize("NFKD", cluster) if not _is_mark(char)
    )
    if stripped.isascii() and stripped.isalnum():
        return stripped.lower()
    if base in _LATIN:
        return _LATIN[base]
    # Marks new since Unicode 3.2 are dropped: Prosody's nodeprep (Unicode 3.2) would
    # not reorder them as today's normalisation does.
    kept = base + "".join(
        char
        for char in cluster[1:]
        if not _is_variation_selector(char) and not stringprep.in_table_a1(char)
    )
    if _is_rtl(base):  # vowel marks dropped: see _bidi
        kept = "".join(char for char in kept if not _is_mark(char))
    # A letter Prosody would change (or refuse) separates words instead.
    return kept if nodeprep(kept) == kept else None


def _units(username: str) -> list[str]:
    """The folded name as units: letters with their marks, and single separators."""
    text = unicodedata.normalize("NFKC", username)
    text = unicodedata.normalize("NFKC", text.casefold())
    units: list[str] = []
    for cluster in _clusters(text):
        folded = _fold_cluster(cluster)
        units += ["-"] if folded is None else _clusters(folded)
    return _collapse(units)


def _trim(units: list[str]) -> list[str]:
    start, end = 0, len(units)
    while start < end and units[start] in _SEPARATORS:
        start += 1
    while end > start and units[end - 1] in _SEPARATORS:
        end -= 1
    return units[start:end]


def _bidi(units: list[str]) -> list[str]:
    """Units satisfying nodeprep's bidi rule (see the module's documentation)."""
    rtl = [any(_is_rtl(char) for char in unit) for unit in units]
    if not any(rtl):
        return units
    if any(unicodedata.bidirectional(char) == "L" for unit in units for char in unit):
        kept = [unit for unit, is_rtl in zip(units, rtl, strict=True) if not is_rtl]
        return _trim(_collapse(kept))
    # Right-to-left only: vowel marks dropped (a final one would break the rule), then
    # the neutral characters (digits, separators) trimmed from both ends.
    units = [
        "".join(char for char in unit if not _is_mark(char)) if is_rtl else unit
        for unit, is_rtl in zip(units, rtl, strict=True)
    ]
    start, end = 0, len(units)
    while start < end and not _is_rtl(units[start][0]):
        start += 1
    while end > start and not _is_rtl(units[end - 1][-1]):
        end -= 1
    return units[start:end]


def _collapse(units: list[str]) -> list[str]:
    collapsed: list[str] = []
    for unit in units:
        if unit in _SEPARATORS and collapsed and collapsed[-1] in _SEPARATORS:
            if collapsed[-1] != unit:
                collapsed[-1] = "-"
            continue
        collapsed.append(unit)
    return collapsed


def _stored_length(text: str) -> int:
    return sum(1 if (byte < 0x80 and chr(byte).isalnum()) else 3 for byte in text.encode("utf-8"))


def _fits(text: str) -> bool:
    return (
        len(text.encode("utf-8")) <= MAX_LOCALPART_BYTES
        and _stored_length(text) <= MAX_STORED_NAME_LENGTH
    )


def _shorten(units: list[str], suffix: str) -> str:
    """The longest cut of ``units`` that, with ``suffix``, fits and passes nodeprep."""
    # Every unit takes at least one character: no need to try more than the limit.
    units = _bidi(_trim(list(units[:MAX_STORED_NAME_LENGTH])))
    while units:
        text = "".join(units) + suffix
        if _fits(text):
            prepped = nodeprep(text)
            # Joining letters may compose (NFKC): then take Prosody's form of the text.
            if prepped is not None and prepped.endswith(suffix) and _fits(prepped):
                return prepped if nodeprep(prepped) == prepped else ""
            return ""
        units = _bidi(_trim(units[:-1]))
    return ""


def base_localpart(username: str) -> str:
    """The localpart for ``username`` before collisions are resolved (see the module)."""
    units = _bidi(_trim(_units(username)))
    return _shorten(units, "") or FALLBACK


def localpart_for(username: str, *, taken: Collection[str]) -> str:
    """The localpart for ``username``, not in ``taken`` (localparts as Prosody stores them).

    Deterministic: the same arguments always give the same result.
    """
    base = base_localpart(username)
    if base not in taken:
        return base
    units = _clusters(base)
    number = 2
    while True:
        candidate = _shorten(units, f"-{number}")
        if not candidate:  # a right-to-left name cannot end with "-2"
            units = [FALLBACK]
            if FALLBACK not in taken:
                return FALLBACK
            candidate = f"{FALLBACK}-{number}"
        if candidate not in taken:
            return candidate
        number += 1


def assign_localparts(usernames: Iterable[str], *, taken: Collection[str]) -> dict[str, str]:
    """Distinct localparts for ``usernames`` (in their order), none in ``taken``.

    Names that fold to the same localpart get ``-2``, ``-3``… in the order given.
    """
    used = set(taken)
    assigned: dict[str, str] = {}
    for username in usernames:
        if username in assigned:
            continue
        localpart = localpart_for(username, taken=used)
        used.add(localpart)
        assigned[username] = localpart
    return assigned


def generate_password() -> str:
    """A random password: 192 bits from :mod:`secrets`, URL-safe base64 (32 characters)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)
