"""Pages: the People tab (leads), the invitation accept page, sign-in that notices a one-time password,
and the set-your-password page."""
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from annotate.exceptions import FERLabError
from annotate.models import Membership, Role
from annotate.selectors.people import PENDING, invitation_by_token, invitation_state, user_must_set_password
from annotate.services.accounts import password_set_own
from annotate.services.invitations import MAX_DAYS, MAX_USES, MIN_DAYS, STATE_MESSAGES, invitation_accept, invitation_accept_new_account
from annotate.views.dashboard import lead_page
from server.password_gate import SESSION_KEY

SESSION_BACKEND = "server.auth.SessionUserBackend"


@lead_page("people")
def project_people(request, project):
    return {"config": {"me": request.user.pk, "minDays": MIN_DAYS, "maxDays": MAX_DAYS, "maxUses": MAX_USES}}


def _project_home(membership: Membership) -> str:
    if membership.role == Role.LEAD:
        return reverse("project-overview", args=[membership.project_id])
    return reverse("label", args=[membership.project_id])


@require_http_methods(["GET", "POST"])
def invitation_page(request, token: str):
    """Join a project through an invitation link: signed in, one click; new here, an account first.

    A link that does not work (unknown, expired, withdrawn, used up) gets a page that says so and why."""
    invitation = invitation_by_token(token=token)
    if invitation is None:
        return render(request, "annotate/invitation.html", {"problem": "This invitation link is not valid. Check that you "
                      "copied all of it, or ask the project's lead for a new one."}, status=404)
    state = invitation_state(invitation)
    context = {"invitation": invitation, "project": invitation.project, "role": Role(invitation.role).label}
    if state != PENDING:
        return render(request, "annotate/invitation.html", {**context, "problem": STATE_MESSAGES[state]}, status=410)
    member = (Membership.objects.filter(project=invitation.project, user=request.user).first()
              if request.user.is_authenticated else None)
    if member is not None:
        context |= {"member": member, "member_role": Role(member.role).label, "home": _project_home(member)}
    if request.method == "GET":
        return render(request, "annotate/invitation.html", context)
    try:
        if request.user.is_authenticated:
            membership, _ = invitation_accept(token=token, user=request.user)
        else:
            user = invitation_accept_new_account(
                token=token, username=request.POST.get("username", ""), password=request.POST.get("password", ""),
            ) if request.POST.get("password", "") == request.POST.get("password2", "") else None
            if user is None:
                return render(request, "annotate/invitation.html", {**context, "error": "The two passwords differ.",
                              "username": request.POST.get("username", "")}, status=400)
            login(request, user, backend=SESSION_BACKEND)
            membership = Membership.objects.get(project=invitation.project, user=user)
    except FERLabError as error:
        status = 400 if error.code in ("username_taken", "invalid_username", "weak_password") else error.status
        return render(request, "annotate/invitation.html", {**context, "error": error.message,
                      "username": request.POST.get("username", "")}, status=status)
    return redirect(_project_home(membership))


class SignInView(auth_views.LoginView):
    """Django's sign-in; an account still on the one-time password a lead gave it goes to set its own first."""

    template_name = "annotate/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        if user_must_set_password(form.get_user()):
            self.request.session[SESSION_KEY] = True
            return redirect(f"{reverse('password-set')}?next={self.get_success_url()}")
        return response


@login_required
@require_http_methods(["GET", "POST"])
def password_set(request):
    """Choose your own password (Django's validators apply); required after signing in with a one-time password."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    context = {"next": next_url, "required": bool(request.session.get(SESSION_KEY))}
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            return render(request, "annotate/password_set.html", {**context, "error": "The two passwords differ."}, status=400)
        try:
            password_set_own(user=request.user, password=password)
        except FERLabError as error:
            return render(request, "annotate/password_set.html", {**context, "error": error.message}, status=400)
        update_session_auth_hash(request, request.user)
        request.session.pop(SESSION_KEY, None)
        return redirect(next_url or reverse("home"))
    return render(request, "annotate/password_set.html", context)


urlpatterns = [
    path("projects/<int:project_id>/people/", project_people, name="project-people"),
    path("invitations/<str:token>/", invitation_page, name="invitation-accept"),
    path("accounts/password/set/", password_set, name="password-set"),
]
