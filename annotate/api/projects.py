"""API: projects the caller belongs to, their members, and item images (access-checked)."""
import mimetypes

from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, JsonResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_face_link, access_item_image, access_membership, access_project_as_lead, access_project_create
from annotate.api.schema import ErrorOutput
from annotate.exceptions import Gone, NotFound, error_body
from annotate.models import Item
from annotate.selectors.projects import project_list_for_user, project_progress
from annotate.services.projects import project_create, project_update
from annotate.signing import item_image_token_read
from ml.action_units import PRESETS


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    instructions = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    flags = serializers.ListField(child=serializers.CharField())
    overlap_target = serializers.IntegerField()
    gold_rate = serializers.FloatField()
    show_model_hints = serializers.BooleanField()
    valence_arousal = serializers.BooleanField()
    action_units = serializers.ListField(child=serializers.IntegerField(), help_text="FACS AU numbers asked, in order")
    au_intensity = serializers.BooleanField(help_text="Present AUs are rated A-E (1-5), not only marked present")
    lease_seconds = serializers.IntegerField()


class ProgressOutput(serializers.Serializer):
    items = serializers.IntegerField()
    items_done = serializers.IntegerField()
    answers = serializers.IntegerField()
    progress = serializers.FloatField()


class ProjectEntryOutput(serializers.Serializer):
    project = ProjectOutput()
    role = serializers.CharField()
    progress = ProgressOutput(source="*")


AUS_HELP = ("FACS action units to ask for, by number (ml.action_units.AU_CATALOGUE); [] for none. Presets: DISFA "
            + str(list(PRESETS["disfa"])) + ", BP4D " + str(list(PRESETS["bp4d"])) + ".")
INTENSITY_HELP = "Ask each present AU's FACS intensity A-E (stored 1-5), not only whether it is present."


# Ranges (k, gold rate, two classes at least) are checked by the service, so the API, the pages and the settings
# preview give the same message.
class ProjectCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    instructions = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000, trim_whitespace=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    overlap_target = serializers.IntegerField(default=3)
    gold_rate = serializers.FloatField(default=0.05)
    show_model_hints = serializers.BooleanField(default=False)
    valence_arousal = serializers.BooleanField(default=False)
    action_units = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=50, help_text=AUS_HELP)
    au_intensity = serializers.BooleanField(default=False, help_text=INTENSITY_HELP)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectEntryOutput(many=True), summary="Projects the caller belongs to")
    def get(self, request):
        return Response(ProjectEntryOutput(project_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput}, summary="Create a project (staff only; the creator becomes its lead)")
    def post(self, request):
        access_project_create(user=request.user)
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data, status=201)


class ProjectUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=10_000, trim_whitespace=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    overlap_target = serializers.IntegerField(required=False)
    gold_rate = serializers.FloatField(required=False)
    show_model_hints = serializers.BooleanField(required=False)
    valence_arousal = serializers.BooleanField(required=False)
    action_units = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=50, help_text=AUS_HELP)
    au_intensity = serializers.BooleanField(required=False, help_text=INTENSITY_HELP)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectEntryOutput, summary="One project, with the caller's role and progress")
    def get(self, request, project_id: int):
        membership = access_membership(user=request.user, project_id=project_id)
        entry = {"project": membership.project, "role": membership.role, **project_progress(project=membership.project)}
        return Response(ProjectEntryOutput(entry).data)

    @extend_schema(request=ProjectUpdateInput, responses=ProjectOutput, summary="Change a project's settings (leads)")
    def patch(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = ProjectUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(ProjectOutput(project_update(project=project, actor=request.user, **data.validated_data)).data)


def image_response(name: str, handle) -> FileResponse:
    """A stored image, cached privately by browsers: an item's files never change."""
    response = FileResponse(handle, content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
    patch_cache_control(response, private=True, max_age=86400, immutable=True)
    return response


def item_image_response(field) -> FileResponse:
    if not field:
        raise NotFound("This item has no stored image.")
    return image_response(field.name, field.open("rb"))


class ItemImageApi(APIView):
    """The face image: originals for the project's leads, crops for leads and for the annotators shown that face."""

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=["crop", "original"], description="crop (default) or original")],
        responses={(200, "image/png"): bytes, 410: OpenApiResponse(ErrorOutput, description="The face was erased on a lead's "
                   "request: its images no longer exist (code face_erased).")},
        summary="An item's image",
    )
    def get(self, request, item_id: int):
        original = request.query_params.get("kind") == "original"
        item = access_item_image(user=request.user, item_id=item_id, original=original)
        if item.erased_at is not None:
            raise Gone("This face was erased on a lead's request: its images no longer exist.", code="face_erased")
        return item_image_response(item.image if original and item.image else item.crop)


@require_GET
def item_image_signed(request, token: str):
    """The face crop behind a signed link from the lease API: no session or item query (the token names the
    stored crop), one primary-key lookup that the holder's membership still allows it (access_face_link)."""
    try:
        link = item_image_token_read(token=token)
    except (signing.BadSignature, ValueError, TypeError):
        return JsonResponse(error_body("bad_link", "This image link is invalid or has expired."), status=404)
    if not access_face_link(user_id=link.user_id, membership_id=link.membership_id, role=link.role):
        return JsonResponse(error_body("link_revoked", "This image link no longer works: the access it was made "
                                       "for has ended (removed, paused or role changed)."), status=403)
    crop = link.crop
    try:
        handle = Item._meta.get_field("crop").storage.open(crop, "rb")
    except (OSError, SuspiciousFileOperation):  # gone from storage (S3 backends raise OSError too)
        if Item.objects.filter(pk=link.item_id, erased_at__isnull=False).exists():
            return JsonResponse(error_body("face_erased", "This face was erased on a lead's request: its images no "
                                           "longer exist."), status=410)
        return JsonResponse(error_body("not_found", "No such image."), status=404)
    return image_response(crop, handle)


urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", ProjectDetailApi.as_view(), name="api-project"),
    path("items/<int:item_id>/image", ItemImageApi.as_view(), name="api-item-image"),
    path("faces/<str:token>", item_image_signed, name="item-image-signed"),
]
