"""User reads: finding the person a lead names when adding them to a project."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from annotate.exceptions import NotFound


def user_get_by_username(*, username: str) -> AbstractBaseUser:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("No such user.")
    return user
