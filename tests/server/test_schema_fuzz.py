"""Issue 17, "Tests that stay": schemathesis over the app's own OpenAPI schema (GET /api/schema/), in process
against the WSGI app (no network), as the signed-in lead of a seeded project (tests/server/authz_seed.py).

Every operation gets a bounded number of generated requests, valid and invalid (schemathesis' positive and negative
modes), most with their path ids pointing at the seeded objects so that bodies and queries reach real rows, some
with generated ids; all inside a total time bound. Each request runs in a savepoint that is rolled back, so no
operation changes what the next one sees. The test fails on any 5xx and on any status the schema does not
document for the operation. FERLAB_FUZZ_EXAMPLES and FERLAB_FUZZ_SECONDS set a deeper run.
"""
import os
import time
from contextlib import contextmanager

import schemathesis
from schemathesis import GenerationMode
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from annotate.services.tokens import api_token_create
from tests.server.authz_seed import world_seed

EXAMPLES_PER_OPERATION = int(os.environ.get("FERLAB_FUZZ_EXAMPLES", 5))
TIME_BOUND_SECONDS = int(os.environ.get("FERLAB_FUZZ_SECONDS", 80))
CHECKS = [not_a_server_error, status_code_conformance]


@contextmanager
def serving_in_the_test_transaction():
    """Django closes a connection that is inside a transaction at every request's start and end, which would end
    the test's; the test client unhooks the same signals while it serves (and hooks them again after)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def seeded_path(operation, ids: dict) -> dict:
    """The operation's path parameters, each naming a seeded object (an import's job id is the seeded import's)."""
    names = {p.name for p in operation.path_parameters}
    chosen = {}
    for name in names:
        seeded = name
        if name == "job_id" and "/imports/" in operation.path:
            seeded = "import_job_id"
        elif name == "item_id" and operation.path.endswith("/erase/"):
            seeded = "erasable_item_id"  # erasing deletes files, which no rollback restores
        chosen[name] = ids[seeded]
    return chosen


def test_no_operation_answers_a_server_error_or_an_undocumented_status(db, make_project, make_items, make_user, capsys):
    world = world_seed(make_project=make_project, make_items=make_items, make_user=make_user)
    _, key = api_token_create(user=world.users["lead"], name="schemathesis")
    headers = {"Authorization": f"Token {key}"}
    with serving_in_the_test_transaction():
        operations, examples, failures, skipped = fuzz(get_wsgi_application(), headers=headers, ids=world.ids)
    with capsys.disabled():
        print(f"\nschemathesis: {len(operations)} operations, {examples} requests, {len(failures)} failing,"
              f" {len(skipped)} not reached in {TIME_BOUND_SECONDS} s")
    assert operations, "the schema lists no operation"
    assert not failures, "\n\n".join(f"{label}:\n  " + "\n  ".join(lines) for label, lines in failures.items())
    assert not skipped, f"Not reached within {TIME_BOUND_SECONDS} s: {skipped}"


def fuzz(app, *, headers: dict, ids: dict):
    """(operations, requests sent, {operation: failure lines}, [operations not reached in time])."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    examples, failures, skipped = 0, {}, []
    deadline = time.monotonic() + TIME_BOUND_SECONDS

    for operation in operations:
        if time.monotonic() > deadline:
            skipped.append(operation.label)
            continue
        path = seeded_path(operation, ids)
        strategy = (operation.as_strategy(path_parameters=path)
                    | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=path)
                    | operation.as_strategy())  # generated ids too: huge, zero, another project's

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            nonlocal examples
            examples += 1
            with transaction.atomic():
                response = case.call(headers=headers)
                transaction.set_rollback(True)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # one operation's failure must not hide the others'
            failures[operation.label] = str(error).strip().splitlines()[:12]

    return operations, examples, failures, skipped


def test_the_schema_documents_the_error_shape_for_what_each_operation_can_answer(client, make_user):
    client.force_login(make_user())
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert set(paths["/api/tokens/"]["get"]["responses"]) == {"200", "401", "403"}  # names nothing, takes nothing
    assert set(paths["/api/annotations/"]["post"]["responses"]) == {"200", "201", "400", "401", "403", "404", "409"}
    assert set(paths["/api/projects/{project_id}/overview/"]["get"]["responses"]) == {"200", "401", "403", "404"}
    error = paths["/api/projects/{project_id}/overview/"]["get"]["responses"]["404"]["content"]["application/json"]
    assert error["schema"] == {"$ref": "#/components/schemas/ErrorOutput"}
    # A delete answers 200 with what it changed (drf-spectacular alone would document an empty 204).
    removal = paths["/api/projects/{project_id}/members/{user_id}/"]["delete"]["responses"]
    assert "204" not in removal and "content" in removal["200"]
