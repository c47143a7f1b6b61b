"""The model card of a model version (Mitchell et al., "Model Cards for Model Reporting", FAT* 2019), generated
from what the registry recorded: the dataset version and its hash, the recipe, the machine, the curves and the
figures on the project's evaluation set. Figures on few faces are called thin; nothing is claimed that was not measured.
"""
from __future__ import annotations

from annotate.models import ModelVersion, Project
from annotate.services.data_cards import UNFIT_USES
from annotate.services.registry import LOW_EVIDENCE_FACES, evaluation_for


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def model_card(*, model_version: ModelVersion, project: Project | None) -> str:
    v = model_version
    recipe = v.recipe or {}
    config = recipe.get("config") or v.config or {}
    lines = [f"# Model card: {v.name}", ""]
    lines += [
        "## Model details",
        f"- Architecture: FERLab's small CNN (ml/model.py), widths {config.get('widths')}, depths {config.get('depths')}; "
        f"classes, in output order: {', '.join(v.classes)}.",
        f"- Weights: `checkpoint.pt`, sha256 `{v.sha256}`; format ml.checkpoint (loadable with "
        "`ml.predict.Predictor('checkpoint.pt')` in plain Python, no Django).",
    ]
    if v.project_id is None:
        lines += [f"- The shipped model ({(v.config or {}).get('source', 'FERLab release')}); its own card is ml/MODEL_CARD.md."]
    else:
        dv = v.dataset_version
        lines += [
            f"- Trained by FERLab's `train` job {v.job_id} on dataset version "
            + (f"v{dv.number} ({dv.name})" if dv else "(deleted)") + f" of project {v.project.name}, "
            f"dataset sha256 `{v.dataset_sha256}`.",
            f"- Targets: {recipe.get('targets')} ({'vote distributions' if recipe.get('targets') == 'soft' else 'final labels'}); "
            f"start: {recipe.get('start')}" + (f" from model version {recipe.get('init_model')}" if recipe.get("init_model") else "") + ".",
            f"- Faces: {recipe.get('train_faces')} for training (splits {', '.join(recipe.get('train_splits') or [])}), "
            f"{recipe.get('validation_faces')} for validation ({recipe.get('validation')}); left out: "
            + ", ".join(f"{k} {n}" for k, n in (recipe.get("left_out") or {}).items() if n) + ".",
            f"- Recipe (ml.config.TrainConfig): epochs {config.get('epochs')}, batch {config.get('batch_size')}, "
            f"{config.get('optimizer')} lr {config.get('lr')} ({config.get('schedule')}), weight decay {config.get('weight_decay')}, "
            f"label smoothing {config.get('label_smoothing')}, dropout {config.get('dropout')}, augmentation {config.get('augment')}, "
            f"seed {config.get('seed')}.",
            f"- Trained on {v.device or 'cpu'} ({(v.machine or {}).get('cpu', '')}, {(v.machine or {}).get('threads', '?')} threads, "
            f"torch {(v.machine or {}).get('torch', '?')}) in {v.train_seconds or 0:.0f} s.",
        ]
        if v.curves:
            last = v.curves[-1]
            lines += [f"- Last epoch ({last.get('epoch')}): training loss {last.get('loss')}, "
                      f"validation accuracy {_pct(last.get('val_accuracy'))}."]
    lines += ["", "## Evaluation"]
    evaluation = evaluation_for(project=project, model_version=v) if project is not None else None
    if evaluation is None:
        lines += ["Not scored on an evaluation set yet (choose one on the project's Models page)."]
    else:
        m = evaluation.metrics
        chosen = project.evaluation_set or {}
        where = f"split {chosen.get('split')}" if chosen.get("kind") == "split" else "the gold faces"
        lines += [
            f"On project {project.name}'s evaluation set ({where}, truth taken {chosen.get('taken_at', '')[:19]}): "
            f"{m['n']} of {m['n_total']} faces scored; {m['excluded_trained']} left out because the model trained on them "
            "or on a copy or near duplicate of them.",
            "",
            "| figure | value | faces |", "| --- | --- | --- |",
            f"| accuracy against the final labels | {_pct(m['accuracy_final'])} | {m['n_final']} |",
            f"| accuracy against the vote majority | {_pct(m['accuracy_majority'])} | {m['n_majority']} |",
            f"| macro-F1 | {m['macro_f1'] if m['macro_f1'] is not None else 'n/a'} | {m['n_final']} |",
            f"| expected calibration error (15 bins) | {m['ece'] if m['ece'] is not None else 'n/a'} | {m['n_final']} |",
            "", "Recall per class (faces): " + ", ".join(
                f"{c} {_pct(r)} ({m['support'].get(c, 0)})" for c, r in m["per_class_recall"].items()) + ".",
        ]
        if m["n_final"] < LOW_EVIDENCE_FACES:
            lines += ["", f"**Thin evidence**: fewer than {LOW_EVIDENCE_FACES} faces with a final label; these figures "
                      "can move by several points with a few faces."]
    lines += [
        "", "## Intended use",
        "Pre-labelling faces and estimating out-of-sample class probabilities for label-quality checks inside FERLab; "
        "research on facial-expression recognition with labels whose provenance is recorded.",
        "", "## Out of scope", *[f"- {use}" for use in UNFIT_USES],
        "", "## Caveats",
        "- 48x48 grey crops; faces unlike the training data (other ages, lighting, poses, cultures) will score worse "
        "than the figures above, which hold only for faces like the evaluation set's.",
    ]
    return "\n".join(lines) + "\n"
