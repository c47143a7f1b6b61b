"""Page: the lead's upload tab: drop a csv, zip or folder, choose the import's options, follow it, read its report."""
from django.urls import path

from annotate.models import Item
from annotate.services.imports import MAX_UPLOAD_BYTES
from annotate.services.imports_images import MAX_FILE_BYTES, MAX_MEMBERS
from annotate.views.dashboard import lead_page

# Splits offered as suggestions besides the project's own (FER2013's, and the Kaggle folder names').
COMMON_SPLITS = ("Training", "PublicTest", "PrivateTest", "Validation", "Test")


@lead_page("upload")
def project_upload(request, project):
    job = request.GET.get("job", "")
    splits = sorted(set(Item.objects.filter(project=project).exclude(split="").values_list("split", flat=True).distinct()[:50]))
    return {
        "splits": splits + [s for s in COMMON_SPLITS if s not in splits],
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        "gold_percent": f"{project.gold_rate:.0%}" if project.gold_rate * 100 == round(project.gold_rate * 100) else f"{project.gold_rate:.1%}",
        "config": {
            "job": int(job) if job.isdigit() else None, "max_upload_bytes": MAX_UPLOAD_BYTES,
            "max_file_bytes": MAX_FILE_BYTES, "max_members": MAX_MEMBERS,
        },
    }


urlpatterns = [
    path("projects/<int:project_id>/upload/", project_upload, name="project-upload"),
]
