"""The demo structure: a fictional theatre, its administrator and colleagues.

This module imports nothing from Django: the cli reads it before settings are loaded.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_YML = Path(__file__).with_name("project.yml")
STRUCTURE_NAME = "Théâtre des Lilas"

# The cli sets these before Django reads its settings, unless the environment says otherwise.
ENVIRONMENT_DEFAULTS = {
    "EVIM_DATA_DIR": str(Path.home() / ".local" / "share" / "evim-demo"),
    "EVIM_PROJECT_YML": str(PROJECT_YML),
    "EVIM_STRUCTURE_NAME": STRUCTURE_NAME,
}
