"""The user pool's password policy (gridshare.kernel.resources.PASSWORD_POLICY) in words.

Cognito enforces the policy and answers only "does not conform"; these say which rule, so an error can
name the policy and what the password lacks. Character classes are Cognito's: basic Latin letters, the
digits 0-9 and its list of symbols.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gridshare.kernel.resources import PASSWORD_POLICY

COGNITO_SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")

_CLASSES: tuple[tuple[str, str, Callable[[str], bool]], ...] = (
    ("RequireUppercase", "an uppercase letter", lambda c: "A" <= c <= "Z"),
    ("RequireLowercase", "a lowercase letter", lambda c: "a" <= c <= "z"),
    ("RequireNumbers", "a number", lambda c: "0" <= c <= "9"),
    ("RequireSymbols", "a symbol", lambda c: c in COGNITO_SYMBOLS),
)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(policy: Mapping[str, Any] = PASSWORD_POLICY) -> str:
    """E.g. 'at least 8 characters, with an uppercase letter, a lowercase letter and a number'."""
    text = f"at least {policy.get('MinimumLength', 8)} characters"
    required = [name for key, name, _ in _CLASSES if policy.get(key)]
    return text + (f", with {_and(required)}" if required else "")


def violations(password: str, policy: Mapping[str, Any] = PASSWORD_POLICY) -> list[str]:
    """What `password` lacks under `policy` (empty: it conforms), e.g. ['only 4 characters', 'no number']."""
    found = []
    minimum = int(policy.get("MinimumLength", 8))
    if len(password) < minimum:
        found.append(f"only {len(password)} characters")
    for key, name, matches in _CLASSES:
        if policy.get(key) and not any(matches(c) for c in password):
            found.append("no " + name.split(" ", 1)[1])
    return found


def policy_problem(password: str, policy: Mapping[str, Any] = PASSWORD_POLICY) -> str:
    """One sentence naming the policy and what the password lacks, for a refusal."""
    lacks = violations(password, policy)
    return f"The password does not meet the password policy: {describe(policy)}" + (
        f" (this one: {', '.join(lacks)})." if lacks else "."
    )
