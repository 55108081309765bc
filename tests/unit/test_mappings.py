"""The field mapping: the shipped default and the loader's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings import Authority, MappingFileError, load_mapping


def test_the_default_maps_the_five_register_fields() -> None:
    mapping = load_mapping()
    assert {f: m.hubspot for f, m in mapping.fields.items()} == {
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "phone": "phone",
        "company": "company",
    }
    assert mapping.fields["email"].authority is Authority.REGISTER
    assert mapping.by_property("lastname") is mapping.fields["last_name"]
    assert mapping.by_property("hs_lead_status") is None
    assert mapping.to_hubspot({"first_name": "A", "phone": None}) == {
        "firstname": "A",
        "phone": None,
    }
    assert mapping.categories(["phone", "first_name", "nickname"]) == (
        "user.contact.phone_number",
        "user.name.first",
    )
    assert mapping.unknown(["phone", "nickname"]) == ["nickname"]


def test_every_problem_names_the_file_and_the_key(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(
        "colour = 1\n"
        '[fields.first_name]\nhubspot = "FirstName"\ncategory = "user.name"\nauthority = "me"\n'
        '[fields.last_name]\nhubspot = "lastname"\ncategory = "x y"\nauthority = "both"\nextra=1\n'
        '[fields.surname]\nhubspot = "lastname"\ncategory = "user.name.last"\nauthority = "both"\n'
    )
    with pytest.raises(MappingFileError) as caught:
        load_mapping(file)
    problems = caught.value.problems
    assert f"{file}: colour: unknown key" in problems
    assert (
        f"{file}: fields.first_name.hubspot: a HubSpot property name (lower case) is needed"
        in problems
    )
    assert f"{file}: fields.first_name.authority: must be register, hubspot or both" in problems
    assert f"{file}: fields.last_name.category: a dotted data category is needed" in problems
    assert f"{file}: fields.last_name.extra: unknown key" in problems
    assert f"{file}: fields.surname.hubspot: lastname is already mapped from last_name" in problems


def test_a_missing_or_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingFileError, match="no such mapping file"):
        load_mapping(tmp_path / "absent.toml")
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(MappingFileError, match="at least one"):
        load_mapping(empty)
