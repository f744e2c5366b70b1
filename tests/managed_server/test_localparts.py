"""localpart_for, assign_localparts, nodeprep, generate_password: pure functions.

(``test_localparts_prosody.py`` checks the same functions against Prosody's own nodeprep.)
"""

from __future__ import annotations

import base64
import re
import stringprep
import unicodedata

import pytest

from evim.managed_server.localparts import (
    FALLBACK,
    MAX_LOCALPART_BYTES,
    MAX_STORED_NAME_LENGTH,
    assign_localparts,
    base_localpart,
    generate_password,
    localpart_for,
    nodeprep,
)

NOTHING: frozenset[str] = frozenset()


def stored_length(localpart: str) -> int:
    """The length of Prosody's file name for the localpart (``%xx`` but for [A-Za-z0-9])."""
    return sum(
        1 if chr(byte).isascii() and chr(byte).isalnum() else 3 for byte in localpart.encode()
    )


def assert_valid(localpart: str) -> None:
    """What every localpart must be: non-empty, short enough, Prosody-normalised, and
    free of the characters RFC 7622 forbids."""
    assert localpart
    assert len(localpart.encode("utf-8")) <= MAX_LOCALPART_BYTES
    assert stored_length(localpart) <= MAX_STORED_NAME_LENGTH
    assert nodeprep(localpart) == localpart, localpart
    assert not any(char in "\"&'/:<>@" or char.isspace() for char in localpart)
    assert localpart.isprintable()
    assert localpart[0] not in "-._" and localpart[-1] not in "-._"
    assert not re.search(r"[-._]{2}", localpart)
    for char in localpart:  # RFC 7622 (PRECIS IdentifierClass): letters, digits, ASCII
        category = unicodedata.category(char)
        assert char.isascii() or category[0] in "LM" or category == "Nd", (char, category)


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        # case, accents
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("Inès.Moreau", "ines.moreau"),
        ("José María", "jose-maria"),
        ("François-Xavier", "francois-xavier"),
        ("Zoë", "zoe"),
        ("Çağla Öztürk", "cagla-ozturk"),
        ("Søren Ærø", "soren-aero"),
        ("Łukasz Żółć", "lukasz-zolc"),
        ("Straße", "strasse"),
        ("ẞ", "ss"),  # capital sharp s
        ("İstanbul", "istanbul"),  # dotted capital I folds to i + dot: the dot is an accent
        ("Đorđe", "dorde"),
        ("Þóra", "thora"),
        ("Œdipe", "oedipe"),
        ("e\u0301cole", "ecole"),  # decomposed input
        ("q\u0301", "q"),  # a mark with no precomposed form
        # compatibility forms (NFKC)
        ("ＡＬＩＣＥ", "alice"),  # full width
        ("ﬁlm", "film"),  # ligature
        ("Ǆemal", "dzemal"),
        ("x²", "x2"),
        ("①", "1"),
        # digits of other scripts
        ("user٣", "user3"),
        ("٣٤", "34"),
        ("१२३", "123"),
        # separators
        ("Jean Pierre", "jean-pierre"),
        ("jean  pierre", "jean-pierre"),
        ("jean\tpierre\n", "jean-pierre"),
        ("jean\u00a0pierre", "jean-pierre"),  # no-break space
        ("jean..pierre", "jean.pierre"),
        ("jean__pierre", "jean_pierre"),
        ("a._b", "a-b"),
        ("a - b", "a-b"),
        (" -alice- ", "alice"),
        ("...alice...", "alice"),
        ("first.last_name-x", "first.last_name-x"),
        # forbidden characters: "&'/:<>@
        ("a@b.example", "a-b.example"),
        ("tom&jerry", "tom-jerry"),
        ("a/b:c", "a-b-c"),
        ("<alice>", "alice"),
        ('say "hi"', "say-hi"),
        ("O'Brien", "obrien"),
        ("d’Artagnan", "dartagnan"),
        ("a+b=c", "a-b-c"),
        ("50%", "50"),
        # controls and invisible characters
        ("al\x00ice", "al-ice"),
        ("al\x07ice", "al-ice"),
        ("al\u200bice", "alice"),  # zero width space
        ("al\u200dice", "alice"),  # zero width joiner
        ("al\u00adice", "alice"),  # soft hyphen
        ("al\ufeffice", "alice"),  # byte order mark
        ("\u202ealice", "alice"),  # right-to-left override
        # emoji and symbols
        ("🎭", FALLBACK),
        ("🎭 Théâtre 🎭", "theatre"),
        ("alice🎉bob", "alice-bob"),
        ("👩‍👩‍👧", FALLBACK),  # emoji joined by ZWJ
        ("☃", FALLBACK),
        ("♥ love", "love"),
        ("€uro", "uro"),
        ("x\ufe0fy", "xy"),  # variation selector
        # other scripts, kept when they have no ASCII form
        ("Дмитрий", "дмитрий"),
        ("Zoë Петрова", "zoe-петрова"),
        ("ΆΝΝΑ", "άννα"),
        ("山田 太郎", "山田-太郎"),
        ("가나다", "가나다"),
        ("さくら", "さくら"),
        ("ガ", "ガ"),
        ("हिन्दी", "हिन्दी"),
        # right to left
        ("علي", "علي"),
        ("עִבְרִית", "עברית"),  # vowel points dropped
        ("Ali علي", "ali"),  # mixed directions: the left-to-right part
        ("علي 2", "علي"),  # must begin and end with a right-to-left letter
        ("2 علي", "علي"),
        # nothing usable
        ("", FALLBACK),
        ("   ", FALLBACK),
        ("-._", FALLBACK),
        ("@@@", FALLBACK),
        ("\u0301", FALLBACK),
        ("''", FALLBACK),
    ],
)
def test_localpart_for(username: str, expected: str) -> None:
    localpart = localpart_for(username, taken=NOTHING)
    assert localpart == expected
    assert_valid(localpart)


def test_localpart_for_is_deterministic() -> None:
    names = ["Inès.Moreau", "Дмитрий", "🎭", "a" * 5000, "علي"]
    first = [localpart_for(name, taken={"ines.moreau"}) for name in names]
    assert [localpart_for(name, taken={"ines.moreau"}) for name in names] == first


def test_result_is_idempotent() -> None:
    for name in ["Inès.Moreau", "Zoë Петрова", "山田 太郎", "علي", "O'Brien"]:
        once = localpart_for(name, taken=NOTHING)
        assert localpart_for(once, taken=NOTHING) == once


class TestCollisions:
    def test_taken_gets_a_number(self) -> None:
        assert localpart_for("alice", taken={"alice"}) == "alice-2"
        assert localpart_for("alice", taken={"alice", "alice-2"}) == "alice-3"
        taken = {"alice"} | {f"alice-{n}" for n in range(2, 100)}
        assert localpart_for("Alice", taken=taken) == "alice-100"

    def test_holes_are_reused(self) -> None:
        assert localpart_for("alice", taken={"alice", "alice-3"}) == "alice-2"

    def test_other_taken_names_do_not_matter(self) -> None:
        assert localpart_for("alice", taken={"bob", "alice-2"}) == "alice"

    def test_names_identical_after_folding(self) -> None:
        names = ["Inès", "ines", "INES", "Ines", "inés", "ＩＮＥＳ"]
        assigned = assign_localparts(names, taken=NOTHING)
        assert list(assigned.values()) == ["ines", "ines-2", "ines-3", "ines-4", "ines-5", "ines-6"]

    def test_assign_skips_taken_and_repeated_names(self) -> None:
        assigned = assign_localparts(["alice", "Alice", "alice", "bob"], taken={"alice-2"})
        assert assigned == {"alice": "alice", "Alice": "alice-3", "bob": "bob"}

    def test_assign_does_not_change_taken(self) -> None:
        taken = {"alice"}
        assign_localparts(["alice", "bob"], taken=taken)
        assert taken == {"alice"}

    def test_assign_is_deterministic(self) -> None:
        names = [f"User {index % 7}" for index in range(30)] + ["Inès", "ines"]
        assert assign_localparts(names, taken={"user-0"}) == assign_localparts(
            names, taken={"user-0"}
        )

    def test_a_name_ending_in_a_number(self) -> None:
        assert localpart_for("alice-2", taken={"alice-2"}) == "alice-2-2"

    def test_fallback_collides_too(self) -> None:
        assert localpart_for("🎭", taken={"user"}) == "user-2"
        assert localpart_for("", taken={"user", "user-2"}) == "user-3"

    def test_right_to_left_names_cannot_take_a_suffix(self) -> None:
        # "علي-2" would break nodeprep's bidi rule (it must end with an Arabic letter).
        assert nodeprep("علي-2") is None
        assert localpart_for("علي", taken={"علي"}) == FALLBACK
        assert localpart_for("علي", taken={"علي", "user"}) == "user-2"

    def test_long_names_are_cut_to_make_room(self) -> None:
        base = localpart_for("a" * 1000, taken=NOTHING)
        numbered = localpart_for("a" * 1000, taken={base})
        assert numbered.endswith("-2")
        assert stored_length(numbered) <= MAX_STORED_NAME_LENGTH
        assert_valid(numbered)
        assert numbered != base

    def test_cut_removes_separators_before_the_suffix(self) -> None:
        name = "a" * (MAX_STORED_NAME_LENGTH - 4) + ".b"  # "." takes 3 ("%2e")
        base = localpart_for(name, taken=NOTHING)
        assert base == name  # exactly at the limit
        numbered = localpart_for(name, taken={base})
        assert numbered == "a" * (MAX_STORED_NAME_LENGTH - 4) + "-2"
        assert_valid(numbered)


class TestLength:
    def test_ascii_is_cut_at_the_storage_limit(self) -> None:
        localpart = localpart_for("b" * 5000, taken=NOTHING)
        assert localpart == "b" * MAX_STORED_NAME_LENGTH

    def test_separators_count_three(self) -> None:
        localpart = localpart_for("ab." * 200, taken=NOTHING)
        assert stored_length(localpart) <= MAX_STORED_NAME_LENGTH
        assert stored_length(localpart) > MAX_STORED_NAME_LENGTH - 5
        assert_valid(localpart)

    def test_non_latin_is_cut_between_letters(self) -> None:
        localpart = localpart_for("名前" * 100, taken=NOTHING)
        # a CJK letter is 3 bytes of UTF-8, 9 characters of file name
        assert localpart == "名前" * 13
        assert_valid(localpart)

    def test_a_letter_keeps_its_marks_when_cut(self) -> None:
        name = "क्षि" * 100  # consonant + virama (mark), consonant + vowel sign (mark)
        localpart = localpart_for(name, taken=NOTHING)
        assert_valid(localpart)
        assert name.startswith(localpart)
        assert not unicodedata.category(name[len(localpart)]).startswith("M")
        assert len(localpart) > 10

    def test_right_to_left_cut_still_ends_with_a_letter(self) -> None:
        localpart = localpart_for("علي " * 100, taken=NOTHING)
        assert_valid(localpart)
        assert unicodedata.bidirectional(localpart[-1]) == "AL"

    def test_limits_are_consistent(self) -> None:
        assert MAX_STORED_NAME_LENGTH < MAX_LOCALPART_BYTES
        assert MAX_STORED_NAME_LENGTH + len(".list~") <= 255

    @pytest.mark.parametrize("length", [0, 1, 239, 240, 241, 1023, 1024, 100_000])
    def test_any_length(self, length: int) -> None:
        assert_valid(localpart_for("x" * length, taken=NOTHING))


@pytest.mark.parametrize(
    "username",
    ["".join(chr(code) for code in range(start, start + 64)) for start in range(0, 0x3000, 64)]
    + [
        "".join(chr(code) for code in range(start, start + 64))
        for start in (0xA000, 0xAC00, 0xD7C0, 0xE000, 0xF900, 0xFB00, 0xFE00, 0xFF00, 0xFFC0)
    ]
    + ["\U0001f600\U0001f9d1\u200d\U0001f3a8", "\U00020000\U0002a6d6", "\U000e0041\U000e007f"],
)
def test_every_block_gives_a_valid_localpart(username: str) -> None:
    """Blocks of 64 code points from everywhere: the result is always valid."""
    assert_valid(localpart_for(username, taken=NOTHING))


def test_lone_surrogates_are_not_a_problem() -> None:
    assert localpart_for("al\ud800ice", taken=NOTHING) == "al-ice"


def test_base_localpart_ignores_collisions() -> None:
    assert base_localpart("Inès") == "ines"


class TestNodeprep:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Alice", "alice"),
            ("ÀLICE", "àlice"),
            ("a\u00adb", "ab"),  # B.1: mapped to nothing
            ("ﬁ", "fi"),  # B.2 + NFKC
            ("Ⅻ", "xii"),
            ("علي", "علي"),
            ("\U0001f600", "\U0001f600"),  # unassigned in Unicode 3.2: allowed
        ],
    )
    def test_mapping(self, text: str, expected: str) -> None:
        assert nodeprep(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "a b",  # C.1.1
            "a\u3000b",  # C.1.2
            "a\x00b",  # C.2.1
            "a\x85b",  # C.2.2
            "a\ue000b",  # C.3 private use
            "a\ufffeb",  # C.4 non-character
            "a\u202eb",  # C.8
            "a\U000e0001b",  # C.9
            *"\"&'/:<>@",
            "ali-علي",  # bidi: mixed
            "علي-2",  # bidi: must end with a right-to-left letter
            "2علي",
        ],
    )
    def test_prohibited(self, text: str) -> None:
        assert nodeprep(text) is None

    def test_ascii_fast_path_agrees_with_the_tables(self) -> None:
        for code in range(128):
            char = chr(code)
            prohibited = (
                char in "\"&'/:<>@"
                or stringprep.in_table_c11(char)
                or stringprep.in_table_c21(char)
            )
            assert (nodeprep(char) is None) == prohibited, repr(char)
            if not prohibited:
                assert nodeprep(char) == stringprep.map_table_b2(char)


class TestPassword:
    def test_strong_and_url_safe(self) -> None:
        password = generate_password()
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", password)
        assert len(base64.urlsafe_b64decode(password)) * 8 >= 128

    def test_random(self) -> None:
        passwords = {generate_password() for _ in range(1000)}
        assert len(passwords) == 1000

    def test_usable_by_prosody_and_sasl(self) -> None:
        password = generate_password()
        assert password.isascii() and password.isprintable() and " " not in password
