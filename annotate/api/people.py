"""API: a project's people for its leads: members (add, role, pause, exclude, message, remove), accounts, invitations."""
import json

from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import access_project_as_lead
from annotate.models import Role
from annotate.selectors.people import (
    MemberPage, former_members_with_answers, invitation_list, invitation_state, member_counts, member_list_json,
)
from annotate.selectors.users import user_get_by_username
from annotate.services.accounts import account_create
from annotate.services.invitations import MAX_DAYS, MAX_USES, MIN_DAYS, NOTE_MAX, invitation_create, invitation_revoke
from annotate.services.members import MESSAGE_MAX, member_add, membership_remove, membership_update


class MemberOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    paused = serializers.BooleanField()
    excluded_from_consensus = serializers.BooleanField()
    message = serializers.CharField()
    joined = serializers.DateTimeField(source="created_at")


class MemberRowOutput(serializers.Serializer):
    member = MemberOutput(source="membership")
    answers = serializers.IntegerField(help_text="Original answers given in this project (corrections not counted twice).")
    open_leases = serializers.IntegerField(help_text="Faces leased to them right now.")
    must_set_password = serializers.BooleanField(help_text="An account a lead created whose owner has not yet set a password.")
    last_login = serializers.DateTimeField(source="membership.user.last_login", allow_null=True)


class MemberListQuery(serializers.Serializer):
    q = serializers.CharField(max_length=150, required=False, allow_blank=True, default="", help_text="Usernames containing this (any case)")
    offset = serializers.IntegerField(min_value=0, default=0, help_text="Rows to skip")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100, help_text="Rows per page (1..1000, default 100)")


class MemberListOutput(serializers.Serializer):
    count = serializers.IntegerField(help_text="Members matching q (every page)")
    members = serializers.IntegerField(help_text="All members")
    leads = serializers.IntegerField(help_text="All ML leads")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = MemberRowOutput(many=True)
    former_members_with_answers = serializers.IntegerField(help_text="Removed people whose answers the project keeps.")


class MemberAddInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class MemberListApi(APIView):
    @extend_schema(parameters=[MemberListQuery], responses=MemberListOutput,
                   summary="A project's members with role, answers and open leases, leads first, a page at a time (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        query = MemberListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        page = MemberPage(search=q["q"].strip(), offset=q["offset"], limit=q["limit"])
        counts = member_counts(project=project, page=page)
        # The rows come as JSON text in MemberListOutput's shape (the schema): 10,000 of them through the serializer's
        # fields took seconds, and their timestamps through Python datetimes most of a second.
        head = json.dumps({"count": counts["matching"], "members": counts["members"], "leads": counts["leads"],
                           "offset": page.offset, "limit": page.limit,
                           "former_members_with_answers": former_members_with_answers(project=project)})
        body = f'{head[:-1]}, "results": {member_list_json(project=project, page=page)}}}'
        return HttpResponse(body, content_type="application/json")

    @extend_schema(request=MemberAddInput, responses=MemberOutput,
                   summary="Add an existing account, or change a member's role (leads)",
                   description="A member already is given `role` (the last lead cannot step down). Both are audited.")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_get_by_username(username=data.validated_data["username"])
        role = data.validated_data["role"]
        membership, created = member_add(project=project, user=user, role=role, actor=request.user)
        if not created:
            membership = membership_update(project=project, user_id=user.pk, role=role, actor=request.user)
        return Response(MemberOutput(membership).data)


class MemberUpdateInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    paused = serializers.BooleanField(required=False)
    excluded_from_consensus = serializers.BooleanField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=MESSAGE_MAX)


class MemberRemovedOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    released_leases = serializers.IntegerField(help_text="Open leases released (their faces went back to the pool).")
    answers_kept = serializers.IntegerField(help_text="Their answers, which stay in the project.")


class MemberApi(APIView):
    @extend_schema(request=MemberUpdateInput, responses=MemberOutput,
                   summary="Change a member's role, pause or resume them, exclude them from consensus, message them (leads)",
                   description="Pausing releases their open leases at once and stops their image links. "
                               "Every change is recorded in the project's audit log.")
    def patch(self, request, project_id: int, user_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = MemberUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_update(project=project, user_id=user_id, actor=request.user, **data.validated_data)
        return Response(MemberOutput(membership).data)

    @extend_schema(request=None, responses=MemberRemovedOutput, summary="Remove a member at once; their answers stay (leads)",
                   description="Their open leases are released, their image links and project API calls stop working. "
                               "The last lead cannot be removed (`last_lead`).")
    def delete(self, request, project_id: int, user_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(MemberRemovedOutput(membership_remove(project=project, user_id=user_id, actor=request.user)).data)


class AccountCreateInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class AccountCreatedOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    password = serializers.CharField(help_text="The one-time password: shown this once; its owner must set their own at first sign-in.")
    sign_in = serializers.CharField(help_text="Where to sign in.")


class AccountCreateApi(APIView):
    @extend_schema(request=AccountCreateInput, responses={201: AccountCreatedOutput},
                   summary="Create an account in the project with a one-time password (leads)")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = AccountCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user, password = account_create(project=project, actor=request.user, **data.validated_data)
        body = {"user_id": user.pk, "username": user.username, "role": data.validated_data["role"], "password": password,
                "sign_in": request.build_absolute_uri(reverse("login"))}
        return Response(AccountCreatedOutput(body).data, status=201)


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField(source="invitation.id")
    role = serializers.CharField(source="invitation.role")
    note = serializers.CharField(source="invitation.note")
    created_at = serializers.DateTimeField(source="invitation.created_at")
    created_by = serializers.CharField(source="invitation.created_by.username", allow_null=True, default=None)
    expires_at = serializers.DateTimeField(source="invitation.expires_at")
    max_uses = serializers.IntegerField(source="invitation.max_uses")
    uses = serializers.IntegerField(source="invitation.uses")
    revoked_at = serializers.DateTimeField(source="invitation.revoked_at", allow_null=True)
    state = serializers.ChoiceField(choices=["pending", "expired", "revoked", "used_up"])


class InvitationCreatedOutput(InvitationOutput):
    link = serializers.CharField(help_text="The invitation link: shown this once (only its hash is kept).")


class InvitationCreateInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)
    expires_in_days = serializers.IntegerField(min_value=MIN_DAYS, max_value=MAX_DAYS, default=7)
    max_uses = serializers.IntegerField(min_value=1, max_value=MAX_USES, default=1)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=NOTE_MAX)


class InvitationListApi(APIView):
    @extend_schema(responses=InvitationOutput(many=True), summary="A project's invitations, pending first (leads)")
    def get(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        return Response(InvitationOutput(invitation_list(project=project), many=True).data)

    @extend_schema(request=InvitationCreateInput, responses={201: InvitationCreatedOutput},
                   summary="Create an invitation link (leads); the link is shown once")
    def post(self, request, project_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        data = InvitationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, token = invitation_create(project=project, actor=request.user, **data.validated_data)
        link = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
        body = {"invitation": invitation, "state": invitation_state(invitation), "link": link}
        return Response(InvitationCreatedOutput(body).data, status=201)


class InvitationApi(APIView):
    @extend_schema(request=None, responses=InvitationOutput, summary="Revoke an invitation (leads); the link stops working")
    def delete(self, request, project_id: int, invitation_id: int):
        project = access_project_as_lead(user=request.user, project_id=project_id)
        invitation = invitation_revoke(project=project, invitation_id=invitation_id, actor=request.user)
        return Response(InvitationOutput({"invitation": invitation, "state": invitation_state(invitation)}).data)


urlpatterns = [
    path("projects/<int:project_id>/members/", MemberListApi.as_view(), name="api-project-members"),
    path("projects/<int:project_id>/members/accounts/", AccountCreateApi.as_view(), name="api-member-accounts"),
    path("projects/<int:project_id>/members/<int:user_id>/", MemberApi.as_view(), name="api-member"),
    path("projects/<int:project_id>/invitations/", InvitationListApi.as_view(), name="api-invitations"),
    path("projects/<int:project_id>/invitations/<int:invitation_id>/", InvitationApi.as_view(), name="api-invitation"),
]
