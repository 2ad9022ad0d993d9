"""The licence: LICENSE is the MIT text, and pyproject.toml declares it so that wheels carry it."""

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_license_file_is_the_mit_license_of_the_contributors():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "\nCopyright (c) 2026 orchestra-mcp contributors\n" in text
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib arrived in Python 3.11; pyproject.toml is checked there")
def test_pyproject_declares_the_mit_license_and_its_file():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    assert project["license"] == "MIT", "an SPDX expression (PEP 639)"
    assert project["license-files"] == ["LICENSE"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")], \
        "PEP 639: a license expression replaces the License classifiers (setuptools refuses both)"
    # setuptools reads a license string as an SPDX expression from version 77 on; before, it fails the build.
    backends = [re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", requirement)
                for requirement in pyproject["build-system"]["requires"] if requirement.startswith("setuptools")]
    assert len(backends) == 1 and backends[0] and int(backends[0].group(1)) >= 77, pyproject["build-system"]["requires"]
