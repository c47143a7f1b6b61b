"""ml/ stays plain Python: no Django, Celery or project imports, and `import ml` stays cheap."""
import ast
import subprocess
import sys
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
FORBIDDEN = {"django", "rest_framework", "celery", "kombu", "annotate", "server", "frontend", "torchvision"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_ml_imports_no_django_celery_or_project_code():
    files = sorted(ML.rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ML)): sorted(imported_roots(f) & FORBIDDEN) for f in files}
    assert not {k: v for k, v in bad.items() if v}


def test_import_ml_does_not_load_torch():
    code = "import sys, ml, ml.config, ml.labels, ml.data, ml.predict, ml.crossval; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ML.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
