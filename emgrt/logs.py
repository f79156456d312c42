"""The one package logger.  Level from EMGRT_LOG_LEVEL (default WARNING)."""

import logging
import os

logger = logging.getLogger("emgrt")
logger.setLevel(os.environ.get("EMGRT_LOG_LEVEL", "WARNING").upper())
