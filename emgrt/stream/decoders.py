"""Decoder options for a bundle: the manifest's ``decoder`` table, overridden by flags."""

from __future__ import annotations

from pathlib import Path

_TUNING = (
    "beam_size", "lm_weight", "insertion_bonus", "commit_margin",
    "commit_lag", "commit_prob", "commit_stable", "commit_depth", "endpoint_frames", "hypothesis_hold",
)
# commit_margin: beam, beam-lm and char-lm; the commit_* rest, endpoint_frames and hypothesis_hold: char-lm
_LM_FILE = {"char-lm": "char_lm", "beam-lm": "word_lm"}  # manifest key of each decoder's LM file
OFF = "off"  # an override that drops the bundle's value (the decoder's own default applies)


def parse_decoder_options(settings: list[str]) -> dict:
    """``--decoder-option KEY=VALUE`` strings -> overrides (values as TOML, or ``off``); the
    decoder checks the values, this checks the keys."""
    import tomllib

    from emgrt.errors import ConfigError

    out: dict = {}
    for setting in settings:
        key, sep, text = (part.strip() for part in setting.partition("="))
        if not sep or key not in _TUNING:
            raise ConfigError(f"--decoder-option {setting!r}: expected KEY=VALUE with KEY one of {', '.join(_TUNING)}")
        if text == OFF:
            out[key] = OFF
            continue
        try:
            out[key] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"--decoder-option {setting!r}: {text!r} is not a number, true/false or off") from None
    return out


def decoder_options(bundle, kind: str, overrides: dict) -> dict:
    """Keyword arguments for ``make_decoder(kind, ...)``: the bundle's tuning for this decoder kind
    (manifest ``decoder.options[kind]``: beam size, LM weight, insertion bonus) and LM file
    (relative to the bundle folder), then ``overrides`` (flags; None values ignored).  Greedy
    takes only the overrides."""
    opts: dict = {}
    if kind == "gesture":  # the decoder's clock: the model's output period
        spec = bundle.spec
        opts["frame_s"] = spec.stream.subsample * spec.frontend.hop / float(spec.signal.sample_rate)
    elif kind != "greedy":
        dec = bundle.spec.decoder
        tuning = dec.options.get(kind)
        opts = {k: getattr(tuning, k) for k in _TUNING if tuning is not None and getattr(tuning, k) is not None}
        lm_file = getattr(dec, _LM_FILE[kind]) if kind in _LM_FILE else None
        if lm_file:
            opts["lm"] = str(Path(bundle.dir) / lm_file)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return {k: v for k, v in opts.items() if v != OFF}


def tune_bundle(bundle_dir, kind: str, overrides: dict) -> dict:
    """Set the bundle's tuning for decoder ``kind`` (manifest ``decoder.options[kind]``) from
    ``overrides`` (:func:`parse_decoder_options`: ``off`` removes a key), check the result loads
    and the decoder accepts it, re-seal.  Returns the new options of ``kind``."""
    from emgrt.bundle import Bundle, _write, sealed_manifest
    from emgrt.decode import make_decoder

    bundle = Bundle.load(bundle_dir)
    d = Path(bundle.dir)
    dec = dict(bundle.manifest.get("decoder") or {})
    options = {k: dict(v) for k, v in (dec.get("options") or {}).items()}
    tuned = {**options.get(kind, {}), **overrides}
    tuned = {k: v for k, v in tuned.items() if v != OFF}
    options[kind] = tuned
    manifest = {**bundle.manifest, "decoder": {**dec, "options": options}}
    sealed = sealed_manifest(d, manifest)
    checked = Bundle.check(d, sealed)
    make_decoder(kind, checked.labels, checked.blank, **decoder_options(checked, kind, {}))  # ranges, LM file
    _write(d, sealed)
    return tuned
