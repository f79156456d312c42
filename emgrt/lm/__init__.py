"""N-gram language models for the decoders: text sources, tokenisation, a modified
Kneser-Ney estimator writing ARPA files (KenLM loads them), and ``build_lm``."""

from emgrt.lm.build import LM_KINDS, BuildReport, build_lm
from emgrt.lm.tokens import SPACE_TOKEN, char_tokens, key_string, word_tokens

__all__ = ["LM_KINDS", "SPACE_TOKEN", "BuildReport", "build_lm", "char_tokens", "key_string", "word_tokens"]
