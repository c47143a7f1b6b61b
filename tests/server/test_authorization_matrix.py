"""Issue 17, "Tests that stay": every URL pattern x method x role, called against real objects of a seeded project,
answers the status written once for it in tests/server/authz_table.py.

Patterns come from Django's resolver, so a new endpoint without a row fails `test_every_endpoint_has_a_row`, whose
message shows the row to add (filled with what the endpoint answers today: check it against the policy in
annotate/access.py before pasting). Every cell runs in a savepoint that is rolled back, so a write (a review, a
role change, a cancel) never changes what the next cell sees.
"""
import copy
import json
import re
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views import View
from rest_framework.views import APIView

from annotate.models import Assignment
from tests.server.authz_seed import ROLES, World, world_seed
from tests.server.authz_table import ADMIN_NAMESPACE, OPTIONS, TABLE, Expect, Row

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def url_patterns() -> list[tuple[str, URLPattern]]:
    """(name with its namespace, pattern) for every pattern Django resolves, in resolution order."""
    found = []

    def walk(resolver: URLResolver, namespace: str):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry, inner)
            else:
                name = f"{namespace}{entry.name or ''}"
                assert entry.name or namespace == f"{ADMIN_NAMESPACE}:", f"URL pattern {entry.pattern} needs a name for the matrix"
                found.append((name, entry))

    walk(get_resolver(), "")
    return found


def pattern_params(pattern: URLPattern) -> list[str]:
    regex = pattern.pattern.regex
    return list(regex.groupindex)


def declared_methods(callback) -> list[str] | None:
    """The methods a class-based view implements; None for a plain function (its methods are probed)."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None or not issubclass(cls, (APIView, View)):
        return None
    allowed = getattr(callback, "view_initkwargs", {}).get("http_method_names", cls.http_method_names)  # as_view(...)
    return [m for m in METHODS if m.lower() in allowed and hasattr(cls, m.lower())]


def is_api_view(callback) -> bool:
    return issubclass(getattr(callback, "cls", object), APIView)


def fill(value, ids: dict):
    """A body or query with every "@name" string replaced by the seeded id of that name."""
    if isinstance(value, str) and value.startswith("@"):
        return ids[value[1:]]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


class Matrix:
    """Signed-in clients per role over a seeded world; `call` runs one cell and rolls its writes back."""

    def __init__(self, world: World):
        self.world = world
        self.clients = {"anonymous": Client(raise_request_exception=False)}
        for role, user in world.users.items():
            client = Client(raise_request_exception=False)
            client.force_login(user)
            self.clients[role] = client
        self.cells = 0

    def path(self, name: str, pattern: URLPattern, params: dict) -> str:
        ids = self.world.ids
        kwargs = {}
        for param in pattern_params(pattern):
            seeded = params.get(param, param)
            assert seeded in ids, (f"{name}: nothing seeded is called {seeded!r}; give its row params={{{param!r}: <a name "
                                   f"in tests/server/authz_seed.py>}}")
            kwargs[param] = ids[seeded]
        return reverse(name, kwargs=kwargs)

    def call(self, role: str, method: str, path: str, expect: Expect | None = None):
        client = self.clients[role]
        cookies = copy.deepcopy(client.cookies)  # a sign-out cell must not sign the client out for the next one
        ids = self.world.ids
        body = fill(expect.body, ids) if expect and expect.body is not None else None
        query = fill(expect.query, ids) if expect and expect.query else None
        with transaction.atomic():
            if expect and expect.upload:  # a multipart POST with a file (imports)
                response = client.post(path, {**(body or {}), "file": expect.upload()})
            elif method == "GET":
                response = client.get(path, query)
            else:
                target = f"{path}?{_encode(query)}" if query else path
                response = client.generic(method, target, json.dumps(body) if body is not None else "",
                                          content_type="application/json")
            transaction.set_rollback(True)
        client.cookies = cookies
        self.cells += 1
        return response

    def methods(self, name: str, pattern: URLPattern) -> list[str]:
        declared = declared_methods(pattern.callback)
        if declared is not None:
            return declared
        row = TABLE.get(name, Row())
        path = self.path(name, pattern, row.params)
        return [m for m in METHODS if self.call("lead", m, path, row.get(m)).status_code != 405]


def _encode(query: dict) -> str:
    return urlencode(query, doseq=True)


def endpoints(matrix: Matrix):
    """(name, pattern, [methods]) for every endpoint but the admin site's (its summary rows stand for it)."""
    for name, pattern in url_patterns():
        if name.startswith(f"{ADMIN_NAMESPACE}:"):
            continue
        yield name, pattern, matrix.methods(name, pattern)


def observed(matrix: Matrix, name: str, pattern: URLPattern, method: str, params: dict) -> Expect:
    path = matrix.path(name, pattern, params)
    expect = TABLE.get(name, Row()).get(method)
    return Expect(*(matrix.call(role, method, path, expect).status_code for role in ROLES))


def suggestion(key: str, found: dict[str, Expect]) -> str:
    methods = ", ".join(f"{method}=Expect({', '.join(f'{role}={getattr(e, role)}' for role in ROLES)})"
                        for method, e in found.items())
    return f'    "{key}": Row({methods}),'


@pytest.fixture
def matrix(db, make_project, make_items, make_user):
    return Matrix(world_seed(make_project=make_project, make_items=make_items, make_user=make_user))


def test_every_endpoint_has_a_row(matrix):
    missing, known = [], {name for name, _ in url_patterns()}
    for name, pattern, methods in endpoints(matrix):
        row = TABLE.get(name, Row())
        found = {m: observed(matrix, name, pattern, m, row.params) for m in methods if m not in row}
        if found:
            missing.append(suggestion(name, found))
        extra = sorted(set(row) - set(methods) - {"OPTIONS"})
        assert not extra, f"{name}: the table has rows for {extra}, which the view does not answer"
    stale = sorted(k for k in TABLE if k.split(" @ ")[0] not in known and not k.startswith(f"{ADMIN_NAMESPACE}:"))
    assert not stale, f"Rows for URL names that no longer exist: {stale}"
    assert not missing, (
        "Endpoints with no expected statuses. Add to TABLE in tests/server/authz_table.py (these are today's "
        "answers: check each against annotate/access.py before pasting):\n" + "\n".join(missing)
    )


def test_every_cell_answers_its_expected_status(matrix, capsys):
    patterns = dict(url_patterns())
    wrong = []
    for key, row in TABLE.items():
        name = key.split(" @ ")[0]
        pattern = patterns[name]
        path = matrix.path(name, pattern, row.params)
        methods = list(row.items())
        if is_api_view(pattern.callback) and "OPTIONS" not in row:  # DRF answers OPTIONS on API views: one policy
            methods.append(("OPTIONS", OPTIONS))
        for method, expect in methods:
            for role in ROLES:
                response = matrix.call(role, method, path, expect)
                want = getattr(expect, role)
                if response.status_code != want:
                    wrong.append(f"{key} {method} {path} as {role}: {response.status_code}, expected {want}"
                                 f" ({_excerpt(response)})")
    with capsys.disabled():
        print(f"\nauthorization matrix: {matrix.cells} cells over {len(TABLE)} rows")
    assert matrix.cells > 0
    assert not wrong, f"{len(wrong)} of {matrix.cells} cells answered otherwise:\n" + "\n".join(wrong)


def _excerpt(response) -> str:
    if response.status_code in (301, 302):
        return f"to {response.get('Location')}"
    text = response.content[:160].decode(errors="replace") if not getattr(response, "streaming", False) else "<stream>"
    return re.sub(r"\s+", " ", text)


def test_an_annotator_lists_only_their_own_answers_and_leases(matrix):
    """Statuses cannot tell whose rows a 200 holds: the listings the annotator reaches hold only theirs."""
    ids, annotator = matrix.world.ids, matrix.clients["annotator"]
    answers = annotator.get("/api/annotations/", {"project": ids["project_id"]}).json()["results"]
    assert [a["id"] for a in answers] == [ids["annotation_id"]]
    leases = annotator.get("/api/assignments/", {"project": ids["project_id"]}).json()["results"]
    assert {a["id"] for a in leases} >= {ids["assignment_id"]}
    theirs = set(Assignment.objects.filter(annotator=matrix.world.users["annotator"]).values_list("pk", flat=True))
    assert {a["id"] for a in leases} <= theirs
    lead_answers = matrix.clients["lead"].get("/api/annotations/", {"project": ids["project_id"]}).json()["results"]
    assert lead_answers == []  # the lead gave none: the list is the caller's, not the project's
