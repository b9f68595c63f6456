"""The lock files in requirements/ pin every dependency pyproject.toml names, with hashes, at a
version pyproject.toml allows (so `make lock` was run after pyproject.toml last changed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

#: Each lock file and the extras compiled into it (the Makefile's `lock` target).
LOCKS = {
    "runtime.txt": ("postgres",),
    "test.txt": ("postgres", "test"),
    "bench.txt": ("postgres", "test", "bench"),
}

#: Security floors the project has promised (issue 11, item 13); pyproject.toml must keep them.
FLOORS = {
    "urllib3": "2.5",
    "requests": "2.32.4",
    "werkzeug": "3.0.6",
    "jinja2": "3.1.6",
    "flask": "3.1.1",
    "gunicorn": "23",
}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def parse_lock(text: str) -> dict[str, tuple[Version, int]]:
    """``name -> (pinned version, number of hashes)`` from a pip-compile lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _PIN.match(stripped)
        assert match, f"a line that is not an exact pin: {stripped!r}"
        name = canonicalize_name(match.group(1))
        pins[name] = (Version(match.group(2)), len(_HASH.findall(stripped)))
    return pins


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        data: dict[str, object] = tomllib.load(file)["project"]
    return data


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    data = project()
    names: list[str] = list(data["dependencies"])  # type: ignore[call-overload]
    optional: dict[str, list[str]] = data["optional-dependencies"]  # type: ignore[assignment]
    for extra in extras:
        names += optional[extra]
    return [Requirement(name) for name in names]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_pinned_with_hashes_within_its_range(lock: str) -> None:
    pins = parse_lock((ROOT / "requirements" / lock).read_text())
    for requirement in declared(LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in requirements/{lock}: run `make lock`"
        version, hashes = pins[name]
        assert hashes > 0, f"{name} has no hash in requirements/{lock}"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} pins {name}=={version}, outside {requirement}: run `make lock`"
        )
        for extra in requirement.extras:  # e.g. psycopg[binary] also needs psycopg-binary
            assert canonicalize_name(f"{name}-{extra}") in pins, f"{name}[{extra}] in requirements/{lock}"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_has_a_hash(lock: str) -> None:
    pins = parse_lock((ROOT / "requirements" / lock).read_text())
    assert pins
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_security_floors_are_declared() -> None:
    requirements = {canonicalize_name(r.name): r for r in declared(("postgres", "test", "bench"))}
    for name, floor in FLOORS.items():
        assert name in requirements, f"{name} is not named in pyproject.toml"
        specifier = requirements[name].specifier
        assert not specifier.contains(_just_below(floor), prereleases=True), f"{name} allows below {floor}"
        assert specifier.contains(floor), f"{name} does not allow {floor}"


def _just_below(floor: str) -> str:
    """A version just under ``floor`` (``2.32.4`` -> ``2.32.3.999``; ``23`` -> ``22.999``)."""
    parts = [int(p) for p in floor.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    parts[-1] -= 1
    return ".".join(str(p) for p in parts) + ".999"

