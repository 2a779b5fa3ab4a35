"""The biscuit_auth module, typed as ``Any``.

biscuit-python 0.4 ships stubs that lag its API (``Algorithm``,
``from_bytes(data, alg)``, ``set_limits``), so the token modules use this alias
instead of importing ``biscuit_auth`` directly.
"""

from __future__ import annotations

from typing import Any

import biscuit_auth as _biscuit_auth

biscuit: Any = _biscuit_auth

__all__ = ["biscuit"]
