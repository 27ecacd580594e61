"""Plausible Chinese names for people, compounds and grids, drawn reproducibly from a generator."""
from __future__ import annotations

import numpy as np

# Common surnames, most frequent first; weights fall off roughly as the national census shares do.
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤"
)
_SURNAME_W = 1.0 / (np.arange(len(SURNAMES)) + 6.0)
SURNAME_P = _SURNAME_W / _SURNAME_W.sum()

MALE_CHARS = list("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国志文博振海峰晨亮成")
FEMALE_CHARS = list("芳娜敏静丽艳娟霞秀玲桂英慧巧美雪琳晶妍茜秋珊莉萍红梅兰婷颖倩洁琴云燕彤欣怡")

PLACE_WORDS = list(
    "滨河 金城 安宁 西固 兰园 水岸 阳光 幸福 和平 建设 民主 团结 东方 北辰 锦绣 翠柳 桃园 银滩 黄河 雁滩 "
    "新港 丽景 明珠 华庭 康乐 长风 春晖 秀川 龙泉 枣林 沙井 培黎 刘家 孔家 费家 盐场 庙滩 九州 五泉 白塔".split()
)
COMPOUND_SUFFIXES = ["小区", "家园", "花园", "新村", "苑", "嘉园", "雅居", "公寓", "华府", "里"]
CHINESE_DIGITS = "零一二三四五六七八九十"


def person_names(rng: np.random.Generator, surnames: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Given names of one or two characters appended to the supplied surnames."""
    n = len(surnames)
    male_pick = rng.choice(MALE_CHARS, size=(n, 2))
    female_pick = rng.choice(FEMALE_CHARS, size=(n, 2))
    first = np.where(male, male_pick[:, 0], female_pick[:, 0])
    second = np.where(male, male_pick[:, 1], female_pick[:, 1])
    two_chars = rng.random(n) < 0.7
    given = np.where(two_chars, np.char.add(first, second), first)
    return np.char.add(surnames.astype(str), given)


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(SURNAMES, size=n, p=SURNAME_P)


def compound_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct compound names; a running number disambiguates once the word pairs run out."""
    seen: set[str] = set()
    out = []
    for _ in range(n):
        base = rng.choice(PLACE_WORDS) + rng.choice(COMPOUND_SUFFIXES)
        name, phase = base, 1
        while name in seen:
            phase += 1
            name = f"{base}{phase}期"
        seen.add(name)
        out.append(name)
    return out


def ordinal(n: int) -> str:
    """1..99 in Chinese numerals, for grid names like 第十二网格."""
    if n <= 10:
        return CHINESE_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CHINESE_DIGITS[tens]) + "十" + (CHINESE_DIGITS[ones] if ones else "")
