"""localparts.nodeprep agrees with Prosody's own nodeprep (ICU), and every localpart
localpart_for makes is one Prosody keeps unchanged.  Asked through the admin socket."""

from __future__ import annotations

import asyncio
import random

from evim.managed_server.admin_shell import AdminShell
from evim.managed_server.localparts import localpart_for, nodeprep
from evim.managed_server.lua import lua_string
from tests.fixtures.prosody import RunningProsody

#: Ranges mixed into random strings: ASCII, Latin, combining marks, Greek and Cyrillic,
#: Hebrew and Arabic, Devanagari, Hangul jamo, general punctuation, letter-like symbols,
#: kana, CJK, Hangul, presentation forms, variation selectors, full width, emoji, tags.
RANGES = [
    (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
    (0x900, 0x97F), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2100, 0x24FF),
    (0x3040, 0x30FF), (0x4E00, 0x4E50), (0xAC00, 0xAC50), (0xFB00, 0xFB4F), (0xFE00, 0xFE0F),
    (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0xE0000, 0xE007F),
]  # fmt: skip

USERNAMES = [
    "Inès.Moreau", "Zoë Петрова", "山田 太郎", "عليّ", "עִבְרִית", "ΆΝΝΑ", "İstanbul", "Straße",
    "ﬁlm", "Ǆemal", "x²", "d’Artagnan", "al\u200dice", "क्षि", "가나다", "ガ", "🎭 Théâtre",
    "a" * 300, "é" * 300, "名前" * 40, "١٢٣ علي", "Ali علي", "ʻolelo", "Ӏ", "ꭰ", "ᏸ",
]  # fmt: skip


def random_strings(count: int) -> list[str]:
    generator = random.Random(20240607)
    strings = []
    for _ in range(count):
        length = generator.randint(1, 6)
        strings.append(
            "".join(chr(generator.randint(*generator.choice(RANGES))) for _ in range(length))
        )
    return strings


async def prosody_nodeprep(shell: AdminShell, texts: list[str]) -> list[str | None]:
    await shell.run('>evim_nodeprep = require "util.encodings".stringprep.nodeprep')
    replies = await asyncio.gather(
        *(
            shell.execute(
                f">local r = evim_nodeprep({lua_string(text)})"
                " print(r == nil and 'nil' or 'ok:' .. r) return true"
            )
            for text in texts
        )
    )
    results: list[str | None] = []
    for reply in replies:
        [line] = reply.output
        results.append(None if line == "nil" else line.removeprefix("ok:"))
    return results


def test_nodeprep_agrees_with_prosody(managed_prosody: RunningProsody) -> None:
    texts = random_strings(3000) + USERNAMES + ["Alice", "a b", "a@b", "", "ALICE\u00ad"]

    async def scenario() -> list[str | None]:
        async with AdminShell.for_layout(managed_prosody.layout) as shell:
            return await prosody_nodeprep(shell, texts)

    theirs = asyncio.run(scenario())
    mismatches = [
        (text, mine, prosody)
        for text, mine, prosody in zip(texts, map(nodeprep, texts), theirs, strict=True)
        if mine != prosody
    ]
    assert not mismatches, mismatches[:10]
    assert theirs.count(None) > 100  # the corpus does exercise refusals…
    assert (
        sum(1 for text, prepped in zip(texts, theirs, strict=True) if prepped not in (None, text))
        > 100
    )  # … and mappings


def test_localparts_are_kept_unchanged_by_prosody(managed_prosody: RunningProsody) -> None:
    localparts = [localpart_for(text, taken=()) for text in USERNAMES + random_strings(1000)]
    localparts += [localpart_for(name, taken={localpart_for(name, taken=())}) for name in USERNAMES]

    async def scenario() -> list[str | None]:
        async with AdminShell.for_layout(managed_prosody.layout) as shell:
            return await prosody_nodeprep(shell, localparts)

    assert asyncio.run(scenario()) == localparts
