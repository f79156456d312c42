"""Torch-free reading of profiler traces (the Chrome trace JSON that ``torch.profiler`` writes
and the Perfetto UI opens): :func:`load_trace` and :func:`summarize`, behind ``emgrt trace``."""

from emgrt.trace.chrome import Span, TraceError, load_trace
from emgrt.trace.summary import CATEGORIES, TraceSummary, summarize

__all__ = ["CATEGORIES", "Span", "TraceError", "TraceSummary", "load_trace", "summarize"]
