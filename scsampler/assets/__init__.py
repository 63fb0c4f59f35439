"""Weights we trained ourselves and ship with the package (nothing is downloaded at run time).

``TRIMMED_CLASSIFIER``: the demo's clip classifier, a classifier run directory (config.json,
model.safetensors, classes.txt). See its README.md for what it is and the command that trains it.
``TRIMMED_LIGHT``: VideoEpitoma's light network, pretrained on the thumbnails of trimmed clips, where
``train-epitoma`` starts from by default (config.json, model.safetensors; its README.md says how).
"""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
TRIMMED_CLASSIFIER = ASSETS / "trimmed-classifier"
TRIMMED_LIGHT = ASSETS / "trimmed-light"
