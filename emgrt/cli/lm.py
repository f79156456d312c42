"""`emgrt lm build`: ARPA n-gram language models for the beam decoders."""

from __future__ import annotations

import argparse
import json

from emgrt.validate import NonNegativeInt, PositiveInt, arg

DESCRIPTION = """\
Build an ARPA n-gram language model with interpolated modified Kneser-Ney
smoothing (emgrt.lm.kneser_ney; KenLM loads the file).

--kind char: one token per character, space written <sp> (for the char-lm
decoder).  --kind word: whitespace-separated key-string words, ⇧ before each
shifted character (for pyctcdecode's beam-lm decoder).

--source wordfreq (default): --sentences pseudo-sentences drawn from the
--words most frequent English words by their wordfreq frequency, seeded by
--seed.  --source FILE.txt: one sentence per line of a UTF-8 text file.
--prune T2 T3 ...: drop n-grams of order 2, 3, ... seen at most T times
(non-decreasing; the last value repeats), to keep the file small.
An --out name ending in .gz writes gzip (KenLM and the decoders read it).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lm",
        help="build ARPA n-gram language models",
        description="Language models for the decoders.",
    )
    sub = p.add_subparsers(dest="lm_command", metavar="ACTION")
    b = sub.add_parser(
        "build",
        help="build a char or word n-gram ARPA file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--kind", required=True, choices=("char", "word"))
    b.add_argument("--order", type=arg(PositiveInt), required=True, help="n-gram order (e.g. 6 for char, 3 for word)")
    b.add_argument("--out", required=True, metavar="FILE.arpa")
    b.add_argument("--source", default="wordfreq", metavar="wordfreq|FILE.txt")
    b.add_argument("--words", type=arg(PositiveInt), default=None, help="wordfreq vocabulary size (default 30000)")
    b.add_argument("--sentences", type=arg(PositiveInt), default=None, help="wordfreq sentences (default 60000)")
    b.add_argument("--seed", type=arg(NonNegativeInt), default=1234, help="wordfreq sampling seed")
    b.add_argument("--prune", type=arg(NonNegativeInt), nargs="*", default=[], metavar="T", help="count thresholds, orders 2..N")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    import sys

    from emgrt.errors import ConfigError
    from emgrt.lm import build_lm
    from emgrt.lm.corpus import DEFAULT_SENTENCES, DEFAULT_WORDS, file_sentences, wordfreq_sentences

    if args.source == "wordfreq":
        total = args.sentences or DEFAULT_SENTENCES
        source = wordfreq_sentences(total, args.words or DEFAULT_WORDS, args.seed)
    else:
        if args.words or args.sentences:
            raise ConfigError("--words and --sentences apply to --source wordfreq only")
        total, source = None, file_sentences(args.source)
    prune = [0] + list(args.prune) if args.prune else []
    report = build_lm(args.kind, args.order, source, args.out, prune, total, show_progress=sys.stderr.isatty())
    if args.json:
        d = {k: (str(v) if k == "path" else v) for k, v in vars(report).items()}
        print(json.dumps(d, indent=2))
    else:
        sizes = ", ".join(f"{n}-grams {c}" for n, c in enumerate(report.ngrams, start=1))
        print(
            f"wrote {report.path}: {args.kind} {args.order}-gram, {report.bytes / 1e6:.2f} MB, {sizes}; "
            f"{report.sentences} sentences, {report.tokens} tokens, {report.seconds:.1f} s"
        )
    return 0
