"""Where agent keeps its files: the per-user folders of this OS (platformdirs), by name only.

A module of its own, light to import (no pydantic): the bundled demo server process needs the
data folder and nothing of the config. :mod:`agent.config` re-exports these.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["APP_NAME", "user_config_dir", "user_data_dir", "user_log_dir"]

APP_NAME = "agent"


def user_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def user_log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))
