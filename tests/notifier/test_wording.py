"""A fire's words come from its kind's declaration: the sentences of ``shared.vocabulary`` with
the values ``notifier.facts`` writes, so a new kind needs no change in the notifier."""

from __future__ import annotations

from string import Formatter

import pytest

from notifier.facts import FIELD_WRITERS, MalformedAlert
from notifier.wording import describe
from shared.vocabulary import KINDS, Kind
from tests.notifier.helpers import alert

FACTS = {"symbol", "price", "direction", "way", "moved"}


def _placeholders(sentence: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(sentence) if name}


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_every_placeholder_of_a_kind_is_one_of_its_fields_or_a_fact(kind: Kind) -> None:
    for sentence in (kind.headline, kind.condition, kind.comparison, kind.rearm):
        assert _placeholders(sentence) <= {*kind.fields, *FACTS}, sentence
    assert set(kind.fields) <= set(FIELD_WRITERS)


@pytest.mark.parametrize(
    ("fields", "condition", "comparison", "rearm"),
    [
        (
            {},
            "at or above 50,000.00",
            "at or above",
            "once the price has gone back below 50,000.00",
        ),
        (
            {"trigger_condition": "below"},
            "at or below 50,000.00",
            "at or below",
            "once the price has gone back above 50,000.00",
        ),
        (
            {"trigger_condition": "crossing", "reference_price": "49000"},
            "crossing 50,000.00",
            "across",
            "when the price crosses back",
        ),
        (
            {
                "trigger_condition": "up_pct",
                "target_price": None,
                "params": {"percent": "2.50", "window": "5m"},
            },
            "a rise of 2.5% within 5 minutes",
            "a rise of",
            "when the move happens again",
        ),
        (
            {"trigger_condition": "down_pct", "target_price": None, "percent": "5", "window": "1d"},
            "a fall of 5% within 1 day",
            "a fall of",
            "when the move happens again",
        ),
    ],
)
def test_each_kind_says_what_the_alert_was_and_when_it_can_fire_again(
    fields: dict[str, object], condition: str, comparison: str, rearm: str
) -> None:
    words = describe(alert(1, frequency="repeat", cooldown_seconds=90, **fields))
    assert (words.condition, words.comparison) == (condition, comparison)
    assert words.next_fire == (
        "This alert repeats. It can fire again from 2026-11-25 12:36:26 UTC"
        f" (its cooldown is 1 minute 30 seconds), {rearm}."
    )


def test_a_move_without_its_base_says_at_least_the_alert_s_percent() -> None:
    words = describe(
        alert(1, trigger_condition="up_pct", target_price=None, percent="5", window="1h")
    )
    assert words.headline == "BTCUSDT rose at least 5% within 1 hour, to 50,012.50"
    assert words.target == ""


def test_a_kind_declared_only_in_the_vocabulary_is_worded() -> None:
    touches = Kind(
        "touches",
        "touches a price",
        ("target_price",),
        summary="touches {target_price}",
        headline="{symbol} touched {target_price}{way}, at {price}",
        condition="touching {target_price}",
        comparison="at",
        rearm="when it touches again",
    )
    kinds = {**KINDS, "touches": touches}
    message = alert(5, trigger_condition="touches", reference_price="60000", seq=1)
    words = describe(message, kinds)
    assert words.headline == "BTCUSDT touched 50,000.00 downwards, at 50,012.50"
    assert (words.condition, words.comparison, words.target) == (
        "touching 50,000.00",
        "at",
        "50,000.00",
    )


def test_a_sentence_naming_what_the_notifier_cannot_word_is_malformed() -> None:
    odd = Kind(
        "odd",
        "odd",
        (),
        summary="",
        headline="{symbol} {colour}",
        condition="",
        comparison="",
        rearm="",
    )
    with pytest.raises(MalformedAlert, match=r"alert 3: no words for \{colour\}"):
        describe(alert(3, trigger_condition="odd"), {"odd": odd})


def test_a_missing_field_of_the_kind_is_named() -> None:
    with pytest.raises(MalformedAlert, match="alert 4: a down_pct alert needs window"):
        describe(alert(4, trigger_condition="down_pct", target_price=None, percent="5"))
