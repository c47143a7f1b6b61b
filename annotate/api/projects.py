"""API: projects the caller belongs to, their members, and item images (access-checked)."""
import mimetypes

from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, JsonResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_item_image, access_membership, access_project_as_lead
from annotate.exceptions import Forbidden, NotFound, error_body
from annotate.models import Item, Role
from annotate.selectors.projects import project_list_for_user, project_progress
from annotate.selectors.users import user_get_by_username
from annotate.services.projects import membership_set, project_create, project_update
from annotate.signing import item_image_token_read


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    flags = serializers.ListField(child=serializers.CharField())
    overlap_target = serializers.IntegerField()
    gold_rate = serializers.FloatField()
    show_model_hints = serializers.BooleanField()
    valence_arousal = serializers.BooleanField()
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


class ProjectCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    labels = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    overlap_target = serializers.IntegerField(min_value=1, max_value=50, default=3)
    gold_rate = serializers.FloatField(min_value=0, max_value=1, default=0.05)
    show_model_hints = serializers.BooleanField(default=False)
    valence_arousal = serializers.BooleanField(default=False)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectEntryOutput(many=True), summary="Projects the caller belongs to")
    def get(self, request):
        return Response(ProjectEntryOutput(project_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput}, summary="Create a project (staff only)")
    def post(self, request):
        if not request.user.is_staff:
            raise Forbidden("Only staff may create projects.", code="staff_only")
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data, status=201)


class ProjectUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    labels = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    flags = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    overlap_target = serializers.IntegerField(min_value=1, max_value=50, required=False)
    gold_rate = serializers.FloatField(min_value=0, max_value=1, required=False)
    show_model_hints = serializers.BooleanField(required=False)
    valence_arousal = serializers.BooleanField(required=False)


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
        return Response(ProjectOutput(project_update(project=project, **data.validated_data)).data)


class MembershipInput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class MembershipApi(APIView):
    @extend_schema(request=MembershipInput, responses={200: None}, summary="Add a member or change their role (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_get_by_username(username=data.validated_data["username"])
        membership = membership_set(project=project, user=user, role=data.validated_data["role"])
        return Response({"username": user.username, "role": membership.role})


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
        responses={(200, "image/png"): bytes},
        summary="An item's image",
    )
    def get(self, request, item_id: int):
        original = request.query_params.get("kind") == "original"
        item = access_item_image(user=request.user, item_id=item_id, original=original)
        return item_image_response(item.image if original and item.image else item.crop)


@require_GET
def item_image_signed(request, token: str):
    """The face crop behind a signed link from the lease API: no session, user or database query
    (the token names the stored crop)."""
    try:
        _, crop = item_image_token_read(token=token)
    except (signing.BadSignature, ValueError, TypeError):
        return JsonResponse(error_body("bad_link", "This image link is invalid or has expired."), status=404)
    try:
        handle = Item._meta.get_field("crop").storage.open(crop, "rb")
    except (OSError, SuspiciousFileOperation):  # gone from storage (S3 backends raise OSError too)
        return JsonResponse(error_body("not_found", "No such image."), status=404)
    return image_response(crop, handle)


urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", MembershipApi.as_view(), name="api-project-members"),
    path("items/<int:item_id>/image", ItemImageApi.as_view(), name="api-item-image"),
    path("faces/<str:token>", item_image_signed, name="item-image-signed"),
]
