"""The embedded engine's Mandarin G2P reads polyphones as the words around them decide."""

from __future__ import annotations

import pytest

from megatts3_server.engines.kokoro.mandarin import MandarinG2P


@pytest.fixture(scope="module")
def read() -> MandarinG2P:
    return MandarinG2P()


@pytest.mark.parametrize(
    ("text", "syllables"),
    [
        ("这条路太长了", "zhe4 tiao2 lu4 tai4 chang2 le5"),  # 长 after a degree word is "long"
        ("世界上最长的桥", "shi4 jie4 shang4 zui4 chang2 de5 qiao2"),
        ("大坝全长两公里", "da4 ba4 quan2 chang2 liang3 gong1 li3"),
        ("他们坐在长凳上", "ta1 men5 zuo4 zai4 chang2 deng4 shang4"),  # heading a noun
        ("孩子长大了", "hai2 zi5 zhang3 da4 le5"),  # the verb keeps zhǎng
        ("他长得很高", "ta1 zhang3 de5 hen3 gao1"),
        ("我们的校长", "wo3 men5 de5 xiao4 zhang3"),
    ],
)
def test_chang_and_zhang(read: MandarinG2P, text: str, syllables: str) -> None:
    assert " ".join(read.pinyin(text)) == syllables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("她背着孩子上山", {"背": "bei1"}),  # carrying on the back
        ("他获得了冠军", {"得": "de2"}),  # a dictionary word ending in 得 keeps its tone
        ("这片土地很肥沃", {"地": "di4"}),
        ("他的目的很简单", {"的": "di4"}),
        ("他慢慢地站起来", {"地": "de5"}),  # the adverbial particle is de, not dì
        ("孩子们玩得正开心", {"得": "de5"}),  # the complement's 得 inside a word jieba glued
        ("这是他亲手种的树", {"种": "zhong4"}),  # the verb before 的/了
        ("我们种了很多花", {"种": "zhong4"}),
        ("这种花很香", {"种": "zhong3"}),  # the measure word after a demonstrative
        ("借了书总要还", {"还": "huan2"}),  # 还 ending a clause is "give back"
        ("你还好吗", {"还": "hai2"}),
        ("新线路下周开通", {"通": "tong1"}),  # not the neutral kāitong (open-minded)
        ("我们得赶紧回去", {"得": "dei3"}),  # after a subject: "must"
        ("他得了第一名", {"得": "de2"}),  # after a subject, before 了: "got"
        ("他跑得很快", {"得": "de5"}),  # after a verb: the complement's particle
    ],
)
def test_polyphones_in_context(read: MandarinG2P, text: str, expected: dict[str, str]) -> None:
    syllables = dict(zip(text, read.pinyin(text), strict=True))
    assert {char: syllables[char] for char in expected} == expected
