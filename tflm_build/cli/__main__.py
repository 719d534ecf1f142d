"""``python -m tflm_build.cli``: the same as the ``tflm-build`` command."""
from __future__ import annotations

import sys

from .main import main

sys.exit(main())
