"""Domain errors say what kind of "no" they are; only the web layer turns that into HTTP."""

from __future__ import annotations

import importlib
import pkgutil

import payments
import wallet_api
from payments.errors import DomainError, Refusal
from wallet_api.problems import STATUS_OF


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _import_all() -> None:
    for package in (payments, wallet_api):
        for mod in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in mod.name:
                importlib.import_module(mod.name)


def test_every_kind_of_refusal_has_one_status():
    assert set(STATUS_OF) == set(Refusal)
    assert all(400 <= status < 500 for status in STATUS_OF.values())


def test_every_domain_error_is_a_kind_of_refusal_and_speaks_no_http():
    _import_all()
    errors = _subclasses(DomainError) | {DomainError}
    assert len(errors) > 30
    for error in errors:
        assert isinstance(error.kind, Refusal), error
        assert not hasattr(error, "status"), f"{error.__name__} still carries an HTTP status"


def test_every_domain_error_has_its_title_in_finnish_swedish_and_english():
    from wallet_api.problems import TITLES

    _import_all()
    missing = sorted(
        {
            error.slug
            for error in _subclasses(DomainError)
            if set(TITLES.get(error.slug, {})) < {"fi", "sv", "en"}
        }
    )
    assert missing == []
