"""xaitools.book: the check that backs every claim of the chapters."""

import pytest

from xaitools import book


def test_a_true_claim_passes_quietly(capsys):
    assert book.check(True, "holds") is None  # None: nothing shows under a cell that ends with a check
    assert capsys.readouterr().out == ""


def test_a_false_claim_fails_and_names_the_sentence():
    with pytest.raises(book.ClaimError, match="the map lies on the dog"):
        book.check(False, "the map lies on the dog")


def test_a_claim_about_another_network_is_skipped_with_a_reason(monkeypatch, capsys):
    monkeypatch.setenv("XAI_MODEL", "imagenet")
    monkeypatch.setenv("XAI_WEIGHTS", "random")
    book.check(False, "the map lies on the dog", model="dog_breeds")
    assert "not checked here" in capsys.readouterr().out and book.setting() == "random weights"
    with pytest.raises(book.ClaimError):  # a claim for any network is still checked
        book.check(False, "shapes agree")


def test_a_claim_about_the_running_network_is_checked(monkeypatch):
    monkeypatch.delenv("XAI_MODEL", raising=False)
    with pytest.raises(book.ClaimError):
        book.check(False, "x", model="dog_breeds")
    with pytest.raises(ValueError):
        book.check(True, "x", model="vgg")


def test_sized_picks_the_quick_setting_only_in_the_quick_run(monkeypatch):
    monkeypatch.delenv("XAI_QUICK", raising=False)
    assert book.sized([50, 150], quick=[50]) == [50, 150]
    monkeypatch.setenv("XAI_QUICK", "1")
    assert book.sized([50, 150], quick=[50]) == [50]


def test_a_claim_about_the_text_networks_is_accepted_and_checked_only_on_them(monkeypatch, capsys):
    """``model="imagenet"`` is one of the book's networks: skipped on the default network, checked in
    the text's mode (``XAI_MODEL=imagenet``)."""
    monkeypatch.delenv("XAI_MODEL", raising=False)
    monkeypatch.delenv("XAI_WEIGHTS", raising=False)
    book.check(False, "the text's map lies on the cat", model="imagenet")
    assert "not checked here (a claim about imagenet; this run: dog_breeds)" in capsys.readouterr().out
    monkeypatch.setenv("XAI_MODEL", "imagenet")
    assert book.setting() == "imagenet"
    with pytest.raises(book.ClaimError, match="the text's map lies on the cat"):
        book.check(False, "the text's map lies on the cat", model="imagenet")
    book.check(True, "the text's map lies on the cat", model="imagenet")
