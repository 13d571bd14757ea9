"""Made-up but plausible Chinese customers: names, genders, phones, birthdays, WeCom remarks.

Each person is drawn from a generator of their own (seeded by the demo seed and their
CDNOW id), so a customer looks the same in a 300-customer demo and in the full one.
Phones are unique by construction: a phone is an identity, and two customers sharing one
would be merged. Names are unique within one ``PeopleMaker``, so a demo user can type
``查 王秀英`` and hit one person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

# Roughly the national frequency ranking (weights in per mille, from the 2020 census order).
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 72), ("李", 71), ("张", 68), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 23),
    ("赵", 20), ("吴", 20), ("周", 19), ("徐", 14), ("孙", 13), ("马", 12), ("朱", 11),
    ("胡", 11), ("郭", 10), ("何", 9), ("林", 9), ("高", 9), ("罗", 8), ("郑", 8), ("梁", 8),
    ("谢", 6), ("宋", 6), ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5),
    ("彭", 5), ("曾", 4), ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 4), ("于", 4),
    ("蒋", 4), ("蔡", 4), ("余", 4), ("杜", 3), ("叶", 3), ("程", 3), ("苏", 3), ("魏", 3),
    ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 2), ("崔", 2),
    ("钟", 2), ("谭", 2), ("陆", 2), ("汪", 2), ("范", 2), ("金", 2), ("石", 2), ("廖", 2),
    ("贾", 2), ("夏", 2), ("韦", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2), ("熊", 2),
    ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 1), ("雷", 1), ("侯", 1),
    ("龙", 1), ("史", 1), ("陶", 1), ("黎", 1), ("贺", 1), ("顾", 1), ("毛", 1), ("郝", 1),
    ("龚", 1), ("邵", 1), ("万", 1), ("钱", 1), ("严", 1), ("欧阳", 1), ("上官", 1),
)  # fmt: skip

FEMALE = "秀英桂芳玉兰丽敏静娟艳霞燕萍红娜琳婷雪梅欣怡佳颖晓雯思琪雨涵梓萱诗语可馨悦彤露瑶倩洁蕾"
MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆晨博文轩子豪睿泽宏志峰建国立新海洋"
CARRIER_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "171",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "195",
    "198",
    "199",
]
REMARKS = (
    "{name}",
    "{name} {last4}",
    "{surname}姐",
    "{surname}姐-老客",
    "{name}-会员",
    "{name}（{city}）",
)


@dataclass(frozen=True)
class Person:
    name: str
    surname: str
    gender: str  # male, female
    phone: str
    birthday: date | None


# x -> (A*x + B) mod 10**8 is a bijection when A is prime to 10: distinct ids, distinct
# subscriber numbers, whatever carrier prefix each one gets.
_A = 48271
_SUBSCRIBERS = 10**8


def phone(number: int, seed: int, rng: random.Random) -> str:
    """A mobile number (1[3-9]x + 8 digits) that no other ``number`` gets for this seed."""
    subscriber = (_A * number + seed * 7_654_321) % _SUBSCRIBERS
    return rng.choice(CARRIER_PREFIXES) + f"{subscriber:08d}"


class PeopleMaker:
    """Draws people with distinct names; ``number`` (the CDNOW id) makes the phone unique."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._names: set[str] = set()
        self._surnames = [s for s, _ in SURNAMES]
        self._weights = [w for _, w in SURNAMES]

    def person(self, number: int, rng: random.Random) -> Person:
        gender = "female" if rng.random() < 0.62 else "male"  # fashion retail skews female
        pool = FEMALE if gender == "female" else MALE
        for _ in range(100):
            surname = rng.choices(self._surnames, self._weights)[0]
            given = rng.choice(pool) + ("" if rng.random() < 0.2 else rng.choice(pool))
            if surname + given not in self._names:
                break
        else:  # 100 misses in a row: the pool is nearly used up, so number the name
            given += str(number)
        self._names.add(surname + given)
        birthday = None
        if rng.random() < 0.7:  # members give a birthday for the birthday coupon
            birthday = date(rng.randint(1965, 2004), rng.randint(1, 12), rng.randint(1, 28))
        return Person(surname + given, surname, gender, phone(number, self._seed, rng), birthday)


def remark(person: Person, city: str, rng: random.Random) -> str:
    """A WeCom contact remark as guides type them: name, phone tail, a nickname."""
    return rng.choice(REMARKS).format(
        name=person.name, surname=person.surname, last4=person.phone[-4:], city=city
    )
