"""The operations guide names every setting: an operator reads there what a variable does,
so a setting added to ``dispatch.config.Settings`` without a line in the guide fails here."""

from __future__ import annotations

import re

from pydantic import AliasChoices

from dispatch.config import ROOT, Settings


def environment_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"GRIDDISPATCH_{name.upper()}"]


def test_every_setting_is_in_the_operations_guide() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [
        names
        for names in map(environment_names, Settings.model_fields)
        if not any(re.search(rf"\b{n}\b", guide) for n in names)
    ]
    assert not missing, f"not in docs/operations.md: {missing}"


def test_settings_are_looked_up_by_their_environment_names() -> None:
    # what the guide is searched for: an alias where the setting has one, else the prefix
    assert environment_names("database_url")[0] == "DATABASE_URL"
    assert environment_names("feed_backlog_max") == ["GRIDDISPATCH_FEED_BACKLOG_MAX"]
