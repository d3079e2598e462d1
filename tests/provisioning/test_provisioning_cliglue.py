"""Small library functions the provision commands call instead of deciding in their handlers."""

from __future__ import annotations

import pytest

from provisioning import coordinator_keys as ck
from provisioning.enrol import display_code
from provisioning.errors import ProvisioningError


def test_bonus_change_keeps_clears_or_replaces_the_bonuses():
    assert ck.bonus_change([], []) is None  # nothing given: the site's bonuses stay
    assert ck.bonus_change([], [], clear=True) == []
    night, christmas = "125:Mo-So:22:00-06:00", "200:2026-12-25"
    assert ck.bonus_change([night], [christmas]) == [ck.parse_bonus(night), ck.parse_holiday(christmas)]


def test_bonus_change_refuses_clearing_and_setting_at_once():
    with pytest.raises(ProvisioningError) as caught:
        ck.bonus_change(["150:Sa,So"], [], clear=True)
    assert caught.value.reason == "bad_field"


def test_display_code_groups_the_digits_by_four():
    assert display_code("12345678901234567890") == "1234-5678-9012-3456-7890"
    assert display_code("1234 5678-9012 3456-7890") == "1234-5678-9012-3456-7890"
    with pytest.raises(ProvisioningError):
        display_code("1234")
