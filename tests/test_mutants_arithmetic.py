"""``evaluators/arithmetic.py`` pinned where one-line mutants (mutation/arithmetic.toml) would
change what it reports: the limits of :func:`safe_eval`, the rounding tolerance, the report's
properties, and how :func:`check_arithmetic` reads annotations and chains. Every expected value
is worked out by hand in the comments.
"""

from __future__ import annotations

import dataclasses

import pytest

from routegraph.evaluators.arithmetic import (
    ArithmeticReport,
    Equality,
    check_arithmetic,
    safe_eval,
)


# --- safe_eval ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("-3", -3.0),
        ("+3", 3.0),
        ("--2", 2.0),
        ("2 - -3", 5.0),
        ("2^12", 4096.0),  # the largest exponent allowed
        ("2^-12", 1 / 4096),
        ("1000000^2", 1e12),  # the largest base allowed
        ("(-1000000)^2", 1e12),
        ("$1,000 + €2", 1002.0),
        ("50%", 0.5),
        ("10" + "+1" * 99, 109.0),  # 200 characters: the longest accepted
    ],
)
def test_safe_eval_values(expression: str, value: float) -> None:
    assert safe_eval(expression) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "100" + "+1" * 99,  # 201 characters
        "1 +",  # a syntax error
        "1\x00",  # ast.parse refuses it with ValueError
        "x",
        "'5'",  # a constant, but not a number
        "not 1",
        "~1",
        "7 // 2",
        "1 << 2",
        "2^13",  # exponent above 12
        "2^-13",
        "1000001^2",  # base above a million
        "(-1000001)^2",
        "1/0",
        "1e300 * 1e300",  # inf
    ],
)
def test_safe_eval_refuses(expression: str) -> None:
    assert safe_eval(expression) is None


# --- Equality and the report --------------------------------------------------------------
@pytest.mark.parametrize(
    ("actual", "claimed", "correct"),
    [
        (100.0, 101.0, True),  # 1% of 100 exactly
        (100.0, 99.0, True),
        (100.0, 101.5, False),
        (0.5, 0.5078125, True),  # 0.0078 <= the 0.01 floor (1% of 0.5 is only 0.005)
        (0.5, 0.515625, False),  # 0.0156 > 0.01
        (0.0, 0.0078125, True),
        (0.0, -0.015625, False),
    ],
)
def test_an_equality_is_correct_up_to_1_percent_or_a_hundredth(actual, claimed, correct) -> None:
    assert Equality("e", claimed, actual).correct is correct


def test_relative_error_is_taken_against_the_actual_value() -> None:
    assert Equality("e", 30.0, 40.0).relative_error == 0.25
    assert Equality("e", 50.0, 40.0).relative_error == 0.25
    assert Equality("e", 1.0, 0.0).relative_error == pytest.approx(1e9)  # 1 / 1e-9


def test_results_are_frozen_values() -> None:
    equality = Equality("2 + 2", 5.0, 4.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        equality.claimed = 4.0  # type: ignore[misc]
    report = ArithmeticReport((equality,), 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.annotation_mismatches = 1  # type: ignore[misc]
    assert hash(report) == hash(ArithmeticReport((Equality("2 + 2", 5.0, 4.0),), 0))


def test_report_properties() -> None:
    report = check_arithmetic("2 + 2 = 4\n3 + 3 = 7\n4 + 4 = 8")
    assert report.checked == 3 and report.wrong == 1
    assert report.last_result == 8.0  # the last equality's claimed value
    assert report.max_relative_error == pytest.approx(1 / 6)  # |7 - 6| / 6
    empty = check_arithmetic("no arithmetic here")
    assert (empty.checked, empty.wrong, empty.last_result) == (0, 0, None)
    assert empty.max_relative_error == 0.0


# --- check_arithmetic ---------------------------------------------------------------------
def test_an_annotation_is_read_as_expression_claim_and_shown_number() -> None:
    report = check_arithmetic("<<3*4=13>>13 eggs")
    assert report.equalities == (Equality("3*4", 13.0, 12.0),)
    assert report.annotation_mismatches == 0
    assert check_arithmetic("<<12=12>>12").checked == 0  # no operator: nothing to check
    assert check_arithmetic("<<x*2=4>>4").checked == 0  # not arithmetic
    assert check_arithmetic("<<3*4=x>>5 eggs").annotation_mismatches == 0  # no claim
    assert check_arithmetic("<<3*4=12>> eggs").annotation_mismatches == 0  # no shown number


@pytest.mark.parametrize(
    ("shown", "mismatches"),
    [("100", 0), ("101", 0), ("99", 0), ("101.5", 1), ("98.5", 1)],
)
def test_a_shown_number_may_differ_from_the_claim_by_1_percent(shown, mismatches) -> None:
    assert check_arithmetic(f"<<50*2=100>>{shown} eggs").annotation_mismatches == mismatches


def test_a_shown_number_may_differ_from_a_small_claim_by_a_hundredth() -> None:
    assert check_arithmetic("<<1/2=0.5>>0.5078125").annotation_mismatches == 0
    assert check_arithmetic("<<1/2=0.5>>0.515625").annotation_mismatches == 1


def test_the_shown_number_is_read_within_24_characters_of_the_annotation() -> None:
    # 22 spaces, then "125": the 24-character window ends after "12", the claim
    assert check_arithmetic("<<3*4=12>>" + " " * 22 + "125 eggs").annotation_mismatches == 0
    assert check_arithmetic("<<3*4=12>>" + " " * 21 + "12 eggs").annotation_mismatches == 0
    assert check_arithmetic("<<3*4=12>>" + " " * 21 + "13 eggs").annotation_mismatches == 1


def test_a_chain_checks_each_link_with_its_whole_value() -> None:
    report = check_arithmetic("2 * (4 + 8) = 2 * 12 = 24 dogs")
    assert report.equalities == (
        Equality("2 * (4 + 8)", 24.0, 24.0),
        Equality("2 * 12", 24.0, 24.0),
    )


def test_a_percentage_claim_is_read_as_a_fraction() -> None:
    assert check_arithmetic("0.5 * 1 = 50%").equalities == (Equality("0.5 * 1", 0.5, 0.5),)


def test_a_skipped_link_does_not_end_the_line() -> None:
    # "Total" is no computation, "1/0" cannot be evaluated: both are skipped, the rest checked
    assert check_arithmetic("Total = 5, 2 + 2 = 5").wrong == 1
    assert check_arithmetic("1/0 = 5, 2 + 2 = 5").wrong == 1
    assert check_arithmetic("2 ^ 13 = 8192").checked == 0


def test_only_a_computation_on_the_left_is_checked() -> None:
    assert check_arithmetic("<<12=3*4>>12").checked == 0  # the computation is on the right
    assert check_arithmetic("She has 5 = 6 apples").checked == 0
    assert check_arithmetic("She has (5 = 6 apples").checked == 0


def test_a_shown_percentage_is_compared_by_its_number() -> None:
    # GSM8K writes "<<20*5=100>>100%": the annotation's result is the number before "%"
    assert check_arithmetic("<<20*5=100>>100% of them").annotation_mismatches == 0
    assert check_arithmetic("<<20*5=100>>90% of them").annotation_mismatches == 1


def test_a_middle_side_with_words_is_read_by_its_number() -> None:
    report = check_arithmetic("2 + 2 = 4 apples, and 3 + 3 = 6")
    assert report.equalities == (Equality("2 + 2", 4.0, 4.0), Equality("3 + 3", 6.0, 6.0))


def test_a_last_side_that_is_itself_arithmetic_is_evaluated_whole() -> None:
    """``10 / 4 = 5 / 2`` is right (2.5 = 2.5): the last side is not just its first number."""
    assert check_arithmetic("10 / 4 = 5 / 2").wrong == 0
    assert check_arithmetic("4 * 3 = 6 * 2").wrong == 0
    wrong = check_arithmetic("4 * 3 = 6 * 3")
    assert (wrong.checked, wrong.wrong) == (1, 1)
    assert wrong.equalities[0].claimed == 18.0 and wrong.equalities[0].actual == 12.0
    assert check_arithmetic("so 6 * 4 = 24 apples").wrong == 0  # a number then words: as before


def test_a_negative_base_to_a_fractional_power_is_not_a_number_not_a_crash() -> None:
    assert safe_eval("(-8)^(1/3)") is None
    assert check_arithmetic("so (-8)^(1/3) = 2").checked == 0


def test_a_last_side_of_plain_numbers_is_read_by_its_first_number() -> None:
    """A table row ``3 * 8 = 24   24`` still checks ``3 * 8 = 24``: only a last side with an
    operator is evaluated whole (kills ``parts[-1]`` -> ``parts[-0]`` / ``parts[not 1]``)."""
    row = check_arithmetic("3 * 8 = 24   24")
    assert (row.checked, row.wrong) == (1, 0)
    assert check_arithmetic("3 * 8 = 25   24").wrong == 1
