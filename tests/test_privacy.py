"""Masking of personal data (gridmap.privacy): names, phones, numbers in free text."""

from __future__ import annotations

import random
import re

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from gridmap.privacy import (
    PII_FIELDS,
    mask_frame,
    mask_name,
    mask_phone,
    mask_record,
    mask_text,
)

# -- mask_name ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李小明", "李**"),
        ("王", "*"),
        ("John Smith", "J*** S****"),
        ("john", "j***"),
        ("J", "*"),
        ("Mary-Jane O'Neil", "M***-**** O'****"),
        ("José  García", "J***  G*****"),
        ("阿沛·阿旺晋美", "阿*·****"),
        ("张 John", "张 ****"),
        (" 王 ", " * "),
        ("   ", "   "),
        ("𠀋一", "𠀋*"),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_name_keeps_none_and_empty(empty):
    assert mask_name(empty) == empty


def test_mask_name_one_star_per_hidden_character():
    for name in ["张三", "欧阳娜娜", "司马相如", "John Smith"]:
        masked = mask_name(name)
        assert len(masked) == len(name)
        assert masked.count("*") == len(name.replace(" ", "")) - len(name.split())


# -- mask_phone ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("19912345678", "199****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("+8613812345678", "+86 138****5678"),
        ("+86-138-1234-5678", "+86 138****5678"),
        ("86 13812345678", "86 138****5678"),
        ("8613812345678", "86 138****5678"),
        ("0086 138 1234 5678", "0086 138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("＋８６ １３８－１２３４－５６７８", "+86 138****5678"),
        # landlines: the area code and the last 4 (8-digit number) or 3 (7 digits)
        ("0731-88886666", "0731-****6666"),
        ("07318888666", "0731-****666"),
        ("(0731) 8888 6666", "0731-****6666"),
        ("010-12345678", "010-****5678"),
        ("02112345678", "021-****5678"),
        ("+86 731 8888 6666", "+86 731-****6666"),
        ("+86 10 1234 5678", "+86 10-****5678"),
        # anything else with 7 digits or more: all but the last 4
        ("12345678", "****5678"),
        ("400-123-4567", "***-***-4567"),
        ("+1 (415) 555-2671", "+* (***) ***-2671"),
        ("12812345678", "*******5678"),
        ("1381234567", "******4567"),
        ("138123456789", "********6789"),
        ("0731-88886666-801", "****-*******6-801"),
        ("13812345678 转 801", "**********8 转 801"),
        # fewer than 7 digits: all of them
        ("110", "***"),
        ("12345", "*****"),
        ("ext. 12", "ext. **"),
        # no digits: nothing to hide
        ("无", "无"),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_phone_keeps_none_and_empty(empty):
    assert mask_phone(empty) == empty


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "+86 139 8765 4321", "0731-88886666", "07318888666", "12345678", "555 1234"],
)
def test_mask_phone_never_returns_the_hidden_digits(phone):
    masked = mask_phone(phone)
    assert masked.count("*") >= 3
    assert re.sub(r"[^0-9]", "", phone) not in re.sub(r"[^0-9]", "", masked)


# -- mask_text ----------------------------------------------------------------

ID18 = "430102199001011234"
ID18_X = "43010219900101123X"
ID15 = "430102900101123"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13812345678请回电", "电话138****5678请回电"),
        ("电话１３８１２３４５６７８请回电", "电话１３８****５６７８请回电"),
        ("联系人手机 138 1234 5678。", "联系人手机 138 **** 5678。"),
        ("手机138-1234-5678或13987654321", "手机138-****-5678或139****4321"),
        ("请拨+86 13812345678", "请拨+86 138****5678"),
        ("请拨+8613812345678", "请拨+86138****5678"),
        ("请拨0086-138-1234-5678", "请拨0086-138-****-5678"),
        ("13812345678", "138****5678"),
        ("Call 139 8765 4321 after 6pm", "Call 139 **** 4321 after 6pm"),
        (f"身份证{ID18}，", "身份证430***********1234，"),
        (f"身份证号{ID18_X}", "身份证号430***********123X"),
        ("身份证号43010219900101123x", "身份证号430***********123x"),
        ("身份证430102 19900101 1234", "身份证430*** ******** 1234"),
        ("身份证４３０１０２１９９００１０１１２３４", "身份证４３０***********１２３４"),
        (f"旧身份证{ID15}已换", "旧身份证430********1123已换"),
        (f"电话13812345678，身份证{ID18}", "电话138****5678，身份证430***********1234"),
        # a checksum is not asked for: anything with the shape of an ID is masked
        ("430102199001011235", "430***********1235"),
        # not a mobile, not an ID: kept
        ("订单号13812345678123456789", "订单号13812345678123456789"),
        ("订单号202405201234567已付", "订单号202405201234567已付"),
        ("流水号913812345678", "流水号913812345678"),
        ("编号138123456789", "编号138123456789"),
        ("固话0731-88886666", "固话0731-88886666"),
        ("12812345678", "12812345678"),
        ("2024年5月20日 18:30，3号楼", "2024年5月20日 18:30，3号楼"),
        ("楼道堆物，无联系方式", "楼道堆物，无联系方式"),
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_text_keeps_none_and_empty(empty):
    assert mask_text(empty) == empty


def test_mask_text_changes_digits_only():
    text = f"３号楼２单元居民反映：电话 138-1234-5678，身份证{ID18_X}；订单 202405201234567。"
    masked = mask_text(text)
    assert len(masked) == len(text)
    changed = [(a, b) for a, b in zip(text, masked, strict=True) if a != b]
    assert changed and all(b == "*" and a in "0123456789" for a, b in changed)


# -- idempotence --------------------------------------------------------------

NAMES = ["张三", "欧阳娜娜", "王", "John Smith", "阿沛·阿旺晋美", "J", "A B", "*", "张*"]
PHONES = [
    "13812345678",
    "+86 138 1234 5678",
    "8613812345678",
    "0731-88886666",
    "07318888666",
    "+86 731 8888 6666",
    "+1 (415) 555-2671",
    "12345678",
    "110",
    "１３８１２３４５６７８",
    "0731-88886666-801",
    "138****5678",
]
TEXTS = [
    "电话13812345678请回电",
    "手机 138 1234 5678 / 138-1234-5678",
    f"身份证{ID18_X}，旧证{ID15}",
    "电话１３８１２３４５６７８",
    "+86 13812345678",
    "订单13812345678123456789",
]


@pytest.mark.parametrize(
    ("mask", "value"),
    [(mask_name, v) for v in NAMES]
    + [(mask_phone, v) for v in PHONES]
    + [(mask_text, v) for v in TEXTS],
)
def test_masking_twice_is_masking_once(mask, value):
    once = mask(value)
    assert mask(once) == once


# -- records and frames -------------------------------------------------------


def test_pii_fields():
    assert PII_FIELDS == ("reporter_name", "reporter_phone")


RECORD = {
    "id": "C-1",
    "reporter_name": "张三",
    "reporter_phone": "+86 138 1234 5678",
    "description": "居民来电13987654321，反映楼道堆物",
    "grid_code": "43100200100101",
}


def test_mask_record():
    masked = mask_record(RECORD, unmasked=False)
    assert masked == {
        "id": "C-1",
        "reporter_name": "张*",
        "reporter_phone": "+86 138****5678",
        "description": "居民来电139****4321，反映楼道堆物",
        "grid_code": "43100200100101",
    }
    assert RECORD["reporter_name"] == "张三"  # a copy


def test_mask_record_unmasked_is_a_copy():
    plain = mask_record(RECORD, unmasked=True)
    assert plain == RECORD
    assert plain is not RECORD


def test_mask_record_missing_fields_and_values():
    assert mask_record({"id": "C-2"}, unmasked=False) == {"id": "C-2"}
    masked = mask_record(
        {"reporter_name": None, "reporter_phone": float("nan"), "description": ""},
        unmasked=False,
    )
    assert masked["reporter_name"] is None
    assert pd.isna(masked["reporter_phone"])
    assert masked["description"] == ""
    # a phone read as a number is masked as its text
    assert mask_record({"reporter_phone": 13812345678}, unmasked=False) == {
        "reporter_phone": "138****5678"
    }


def _random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    surnames = "张王李赵刘陈杨黄周吴"
    given = "三娜明华伟芳敏静丽强"
    latin = ["John Smith", "Mary-Jane O'Neil", "Li Wei", "J", "Anna"]
    digits = "0123456789"

    def mobile():
        return rng.choice("1") + rng.choice("3456789") + "".join(rng.choices(digits, k=9))

    def name():
        kind = rng.random()
        if kind < 0.6:
            return rng.choice(surnames) + "".join(rng.choices(given, k=rng.randint(0, 3)))
        if kind < 0.8:
            return rng.choice(latin)
        return rng.choice([None, "", "张*", "阿沛·阿旺晋美", "欧阳娜娜"])

    def phone():
        m = mobile()
        return rng.choice(
            [
                m,
                m,
                m,
                f"+86 {m[:3]} {m[3:7]} {m[7:]}",
                f"86{m}",
                "0731-" + "".join(rng.choices(digits, k=8)),
                "0" + "".join(rng.choices(digits, k=rng.randint(6, 13))),
                m.translate(str.maketrans(digits, "０１２３４５６７８９")),
                None,
                "",
                "110",
            ]
        )

    def description():
        parts = ["居民反映", "楼道堆物", "，", " ", "Call ", "订单"]
        bits = [
            mobile(),
            f"{mobile()[:3]} {mobile()[3:7]} {mobile()[7:]}",
            "4301021990" + "".join(rng.choices(digits, k=7)) + rng.choice("0X"),
            "".join(rng.choices(digits, k=rng.randint(3, 22))),
            "１３８１２３４５６７８",
        ]
        text = "".join(rng.choice(parts + bits) for _ in range(rng.randint(0, 6)))
        return rng.choice([text, text, text, None])

    return pd.DataFrame(
        {
            "id": [f"C-{i}" for i in range(n)],
            "reporter_name": [name() for _ in range(n)],
            "reporter_phone": [phone() for _ in range(n)],
            "description": [description() for _ in range(n)],
        }
    )


def _plain(record: dict) -> dict:
    """Missing values as None (NaN is not equal to itself)."""
    return {k: None if pd.api.types.is_scalar(v) and pd.isna(v) else v for k, v in record.items()}


@pytest.mark.parametrize("dtype", ["str", object])
def test_mask_frame_equals_mask_record_row_by_row(dtype):
    frame = _random_frame(3000, seed=12).astype(dtype)
    masked = mask_frame(frame, unmasked=False)
    assert list(masked.columns) == list(frame.columns)
    assert (masked.dtypes == frame.dtypes).all()
    for i in range(len(frame)):
        expected = _plain(mask_record(frame.iloc[i].to_dict(), unmasked=False))
        assert _plain(masked.iloc[i].to_dict()) == expected, i
    assert frame.equals(_random_frame(3000, seed=12).astype(dtype))  # the input unchanged


def test_mask_frame_twice_is_once():
    once = mask_frame(_random_frame(3000, seed=7), unmasked=False)
    assert mask_frame(once, unmasked=False).equals(once)


def test_mask_frame_text_with_nul_characters():
    """A description holding the NUL that joins texts is masked one by one, the same."""
    frame = pd.DataFrame({"description": ["a\x0013812345678", "13812345678\x00b", None, "c"]})
    assert mask_frame(frame, unmasked=False)["description"].tolist()[:2] == [
        "a\x00138****5678",
        "138****5678\x00b",
    ]


def test_mask_frame_mixed_values():
    frame = pd.DataFrame({"reporter_phone": [13812345678, None, "0731-88886666"]}, dtype=object)
    assert mask_frame(frame, unmasked=False)["reporter_phone"].tolist() == [
        "138****5678",
        None,
        "0731-****6666",
    ]


def test_mask_frame_unmasked_copy_and_missing_columns():
    frame = _random_frame(50, seed=3)
    plain = mask_frame(frame, unmasked=True)
    assert plain.equals(frame) and plain is not frame
    only_id = frame[["id"]]
    assert mask_frame(only_id, unmasked=False).equals(only_id)
    empty = frame.iloc[:0]
    assert mask_frame(empty, unmasked=False).equals(empty)


def test_mask_frame_keeps_a_geodataframe():
    frame = gpd.GeoDataFrame(
        {"reporter_name": ["张三", "John Smith"], "description": ["电话13812345678", None]},
        geometry=[Point(112.0, 25.8), Point(112.1, 25.9)],
        crs="EPSG:4326",
    )
    masked = mask_frame(frame, unmasked=False)
    assert isinstance(masked, gpd.GeoDataFrame)
    assert masked.crs == frame.crs
    assert masked["reporter_name"].tolist() == ["张*", "J*** S****"]
    assert masked["description"].tolist()[0] == "电话138****5678"


def test_mask_frame_masks_every_row_of_a_large_frame():
    """20,000 incidents, every other description with a phone and an ID number (the
    column-wise paths of mask_frame, not only the row fallback)."""
    n = 20_000
    rng = random.Random(1)
    phones = [f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}" for _ in range(n)]
    frame = pd.DataFrame(
        {
            "reporter_name": [
                rng.choice("张王李赵刘") + "".join(rng.choices("三娜明华伟芳", k=rng.randint(1, 3)))
                for _ in range(n)
            ],
            "reporter_phone": phones,
            "description": [
                f"居民反映楼道堆物，电话{p}，身份证4301021990010112{i % 100:02d}"
                if i % 2
                else "占道经营"
                for i, p in enumerate(phones)
            ],
        }
    )
    masked = mask_frame(frame, unmasked=False)
    assert masked["reporter_phone"].str.fullmatch(r"1[3-9][0-9]\*{4}[0-9]{4}").all()
    assert not masked["description"].str.contains(r"[0-9]{7}").any()
    assert masked["reporter_name"].str.fullmatch(r".\*+").all()
