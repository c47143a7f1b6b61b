"""Django admin for every FERLab table. Append-only facts (answers, reviews, runs) are read-only here."""
from django.contrib import admin

from annotate import models


class ReadOnlyAdmin(admin.ModelAdmin):
    """Answers, reviews and quality results are facts: the admin may look, never edit or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "overlap_target", "gold_rate", "show_model_hints", "valence_arousal", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "paused", "excluded_from_consensus"]
    list_filter = ["role", "paused", "excluded_from_consensus", "project"]
    search_fields = ["user__username", "project__name"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "source", "split", "reference_label", "is_gold", "excluded", "answer_count", "priority"]
    list_filter = ["project", "split", "is_gold", "excluded"]
    search_fields = ["source", "content_hash"]
    readonly_fields = ["content_hash", "perceptual_hash", "width", "height", "answer_count", "created_at"]
    list_select_related = ["project"]


@admin.register(models.Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "item_id", "annotator", "status", "is_gold", "created_at", "expires_at"]
    list_filter = ["status", "is_gold", "project"]
    list_select_related = ["project", "annotator"]


@admin.register(models.Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "item_id", "annotator", "label", "seconds", "replaces_id", "source", "created_at"]
    list_filter = ["project", "label", "source"]
    search_fields = ["annotator__username", "client_id"]
    list_select_related = ["project", "annotator"]


@admin.register(models.ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "dataset_version", "created_at"]
    readonly_fields = ["sha256", "data_hash", "metrics", "confusion", "config", "classes"]


@admin.register(models.Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "item_id", "model_version", "label", "confidence"]
    list_filter = ["model_version"]


@admin.register(models.Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "project", "status", "queue", "worker", "progress_done", "progress_total", "stage", "created_at"]
    list_filter = ["kind", "status", "queue"]


class QualityItemResultInline(admin.TabularInline):
    model = models.QualityItemResult
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["item", "num_answers", "consensus_label", "consensus_quality", "label_issue", "active_learning_score"]
    readonly_fields = fields
    show_change_link = False


@admin.register(models.QualityRun)
class QualityRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "probability_source", "annotation_count", "created_at", "finished_at"]
    list_filter = ["project"]


@admin.register(models.QualityItemResult)
class QualityItemResultAdmin(ReadOnlyAdmin):
    list_display = ["run", "item_id", "consensus_label", "consensus_quality", "label_issue", "active_learning_score"]
    list_filter = ["label_issue", "consensus_label"]


@admin.register(models.QualityAnnotatorResult)
class QualityAnnotatorResultAdmin(ReadOnlyAdmin):
    list_display = ["run", "annotator", "quality", "agreement", "gold_accuracy", "worst_class", "num_answers"]


@admin.register(models.Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "item_id", "reviewer", "action", "label", "created_at"]
    list_filter = ["action"]


@admin.register(models.DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["project", "number", "name", "item_count", "sha256", "created_at"]


@admin.register(models.Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ["version", "format", "job", "file", "size", "finished_at"]
    list_filter = ["format"]
