"""`emgrt lm corpus | build | perplexity`: English text and ARPA n-gram language models."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from emgrt.validate import NonNegativeInt, PositiveInt, arg

CORPUS_DESCRIPTION = """\
Split WordNet 3.0 (example sentences and glosses; Debian: apt-get install
wordnet-base -> /usr/share/wordnet; WordNet 3.0 licence) into two disjoint
sentence files in --out: prompts.txt.gz (what `emgrt synth` typists type) and
lm.txt.gz (what the language models are built from).  The package ships the
files this command writes with --out emgrt/text; the same input gives the same
bytes.
"""

BUILD_DESCRIPTION = """\
Build an ARPA n-gram language model with interpolated modified Kneser-Ney
smoothing (emgrt.lm.kneser_ney; KenLM loads the file).

--kind char: one token per character, space written <sp> (for the char-lm
decoder).  --kind word: whitespace-separated key-string words, ⇧ before each
shifted character (for pyctcdecode's beam-lm decoder).

--source english (default): the shipped LM text (emgrt/text/lm.txt.gz, WordNet
sentences disjoint from the synthetic prompts).  --source FILE.txt[.gz]: one
sentence per line of a UTF-8 text file.
--prune T2 T3 ...: drop n-grams of order 2, 3, ... seen at most T times
(non-decreasing; the last value repeats), to keep the file small.
An --out name ending in .gz writes gzip (KenLM and the decoders read it).
"""

PERPLEXITY_DESCRIPTION = """\
Perplexity of an ARPA model on sentences it was not built from: by default the
shipped prompts (emgrt/text/prompts.txt.gz), which the shipped LMs never saw.
Tokens as `emgrt lm build --kind`; each sentence's end counts as a token.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "lm",
        help="English text and ARPA n-gram language models",
        description="English text and language models for the decoders.",
    )
    sub = p.add_subparsers(dest="lm_command", metavar="ACTION")
    c = sub.add_parser(
        "corpus",
        help="split WordNet into prompt and LM sentence files",
        description=CORPUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--wordnet", default="/usr/share/wordnet", metavar="DIR", help="folder with data.noun etc. (default /usr/share/wordnet)")
    c.add_argument("--out", required=True, metavar="DIR", help="where prompts.txt.gz and lm.txt.gz go")
    c.add_argument("--json", action="store_true", help="print the counts as JSON")
    c.set_defaults(func=run_corpus)

    b = sub.add_parser(
        "build",
        help="build a char or word n-gram ARPA file",
        description=BUILD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("--kind", required=True, choices=("char", "word"))
    b.add_argument("--order", type=arg(PositiveInt), required=True, help="n-gram order (e.g. 6 for char, 3 for word)")
    b.add_argument("--out", required=True, metavar="FILE.arpa")
    b.add_argument("--source", default="english", metavar="english|FILE.txt")
    b.add_argument("--prune", type=arg(NonNegativeInt), nargs="*", default=[], metavar="T", help="count thresholds, orders 2..N")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    b.set_defaults(func=run_build)

    q = sub.add_parser(
        "perplexity",
        help="perplexity of an ARPA file on held-out sentences",
        description=PERPLEXITY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("lm", metavar="FILE.arpa")
    q.add_argument("--kind", required=True, choices=("char", "word"))
    q.add_argument("--text", default="prompts", metavar="prompts|FILE.txt", help="sentences to score (default: the shipped prompts)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_perplexity)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _sentences(source: str, shipped: str):
    from emgrt import text

    if source == shipped:
        return text.lm_sentences() if shipped == "english" else iter(text.prompts())
    return text.read_lines(source)


def run_corpus(args: argparse.Namespace) -> int:
    import gzip
    from pathlib import Path

    from emgrt.io.atomic import atomic_path
    from emgrt.text import LM_TEXT, PROMPTS
    from emgrt.text.wordnet import build_corpus

    corpus = build_corpus(args.wordnet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in ((PROMPTS.name, corpus.prompts), (LM_TEXT.name, corpus.lm)):
        with atomic_path(out / name) as tmp:
            # mtime=0: the same sentences give the same bytes
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
                gz.write(("\n".join(lines) + "\n").encode())
    counts = {
        "examples": corpus.examples,
        "glosses": corpus.glosses,
        "dropped": corpus.dropped,
        "prompts": len(corpus.prompts),
        "lm_sentences": len(corpus.lm),
        "out": str(out),
    }
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        print(
            f"wrote {out / PROMPTS.name} ({len(corpus.prompts)} prompts) and {out / LM_TEXT.name} "
            f"({len(corpus.lm)} LM sentences) from {corpus.examples} examples and {corpus.glosses} glosses "
            f"({corpus.dropped} pieces outside the charset dropped)"
        )
    return 0


def run_build(args: argparse.Namespace) -> int:
    from emgrt.lm import build_lm

    prune = [0] + list(args.prune) if args.prune else []
    source = _sentences(args.source, "english")
    report = build_lm(args.kind, args.order, source, args.out, prune, None, show_progress=sys.stderr.isatty())
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


def run_perplexity(args: argparse.Namespace) -> int:
    from emgrt.lm.perplexity import perplexity

    result = perplexity(args.lm, args.kind, _sentences(args.text, "prompts"))
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(
            f"{result.path}: perplexity {result.perplexity:.2f} per {args.kind} token "
            f"({result.bits_per_token:.3f} bits), {result.tokens} tokens in {result.sentences} sentences, "
            f"{result.oov} unknown"
        )
    return 0
