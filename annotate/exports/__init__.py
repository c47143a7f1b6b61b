"""Export file writers, one module per format: plain functions from face rows to a file object (no Django)."""
from importlib import import_module
from typing import Callable

# Format name (annotate.models.ExportFormat's values) -> the module whose ``write`` builds it.
WRITER_MODULES = {
    "fer2013-csv": "annotate.exports.fer2013_csv",
    "ferplus-csv": "annotate.exports.ferplus_csv",
    "imagefolder": "annotate.exports.imagefolder",
    "parquet": "annotate.exports.parquet",
    "jsonl": "annotate.exports.jsonl",
    "label-studio": "annotate.exports.label_studio",
}


def writer_for(format: str) -> Callable:
    """The format's ``write(rows, out, *, info) -> dict`` (imported on first use: pyarrow only when needed)."""
    return import_module(WRITER_MODULES[format]).write
