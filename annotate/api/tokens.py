"""API: the signed-in user's own API tokens: list, make (the key shown once), revoke."""
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.selectors.tokens import api_token_state, api_tokens_for_user
from annotate.services.tokens import EXPIRY_DAYS_MAX, NAME_MAX, api_token_create, api_token_revoke


class TokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    key_prefix = serializers.CharField(help_text="The key's first characters, to tell tokens apart.")
    state = serializers.SerializerMethodField(help_text="live, expired, revoked or password_changed")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True, help_text="To the minute.")
    revoked_at = serializers.DateTimeField(allow_null=True)

    def get_state(self, token) -> str:
        return api_token_state(token)


class TokenCreatedOutput(TokenOutput):
    key = serializers.CharField(help_text="The secret: shown only in this answer, never again.")


class TokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=EXPIRY_DAYS_MAX, required=False, allow_null=True,
                                               help_text="Empty: the token never expires.")


class TokensApi(APIView):
    @extend_schema(responses=TokenOutput(many=True), summary="Your API tokens, newest first")
    def get(self, request):
        return Response(TokenOutput(api_tokens_for_user(user=request.user), many=True).data)

    @extend_schema(request=TokenCreateInput, responses={201: TokenCreatedOutput},
                   summary="Make an API token; its key is in this answer only")
    def post(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = api_token_create(user=request.user, name=data.validated_data["name"],
                                      expires_in_days=data.validated_data.get("expires_in_days"))
        output = TokenOutput(token).data
        return Response({**output, "key": key}, status=201)


class TokenApi(APIView):
    @extend_schema(request=None, responses={200: TokenOutput}, summary="Revoke one of your API tokens")
    def delete(self, request, token_id: int):
        return Response(TokenOutput(api_token_revoke(user=request.user, token_id=token_id)).data)


urlpatterns = [
    path("tokens/", TokensApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", TokenApi.as_view(), name="api-token"),
]
