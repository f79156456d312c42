"""Decoder options for a bundle: the manifest's ``decoder`` table, overridden by flags."""

from __future__ import annotations


def decoder_options(bundle, kind: str, overrides: dict) -> dict:
    """Keyword arguments for ``make_decoder(kind, ...)``: manifest defaults, then ``overrides``."""
    return dict(overrides)
