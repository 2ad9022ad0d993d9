"""Root-cause selection, log-line extraction and secret masking: pure functions, no HTTP."""
import orchestra_mcp as m


def task(key, status, depends=(), **extra):
    return {"id": f"id-{key}", "taskId": key, "taskName": key.title(), "status": status,
            "dependsOn": list(depends), "startedAt": extra.pop("startedAt", f"2026-11-23T02:0{len(key) % 10}:00+00:00"),
            **extra}


def test_a_failure_below_a_failure_is_a_consequence_not_a_root_cause():
    tasks = [task("extract", "FAILED"), task("load", "SKIPPED", ["extract"]),
             task("check", "FAILED", ["load"]), task("other", "SUCCEEDED")]
    roots, impact = m.root_causes(tasks, m.upstream_map(tasks, None))
    assert [t["taskId"] for t in roots] == ["extract"]
    assert {t["taskId"]: t["status"] for t in impact} == {"load": "SKIPPED", "check": "FAILED"}


def test_independent_failures_are_each_a_root_cause():
    tasks = [task("a", "FAILED"), task("b", "FAILED"), task("c", "SKIPPED", ["a", "b"])]
    roots, impact = m.root_causes(tasks, m.upstream_map(tasks, None))
    assert {t["taskId"] for t in roots} == {"a", "b"} and impact[0]["because"] == ["a", "b"]


def test_unknown_upstream_keys_such_as_groups_are_not_tasks_that_failed():
    tasks = [task("a", "FAILED", ["some_group"])]
    roots, _ = m.root_causes(tasks, m.upstream_map(tasks, None))
    assert [t["taskId"] for t in roots] == ["a"]


def test_dependency_cycles_do_not_hang():
    tasks = [task("a", "FAILED", ["b"]), task("b", "FAILED", ["a"])]
    roots, impact = m.root_causes(tasks, m.upstream_map(tasks, None))
    assert roots == [] and len(impact) == 2


def test_warning_tasks_are_the_causes_of_a_warning_run():
    roots, _ = m.root_causes([task("a", "WARNING"), task("b", "SUCCEEDED")], None)
    assert [t["taskId"] for t in roots] == ["a"]


def test_a_skipped_task_with_nothing_failed_upstream_is_not_impact():
    tasks = [task("a", "SUCCEEDED"), task("b", "SKIPPED", ["a"])]
    roots, impact = m.root_causes(tasks, m.upstream_map(tasks, None))
    assert roots == [] and impact == []


def test_values_under_secret_looking_keys_are_masked_recursively():
    masked = m.mask_parameters({"password": "hunter2", "nested": {"api_token": "t", "Private_Key": "k", "ok": "v"},
                                "commands": "dbt build", "list": [{"secret": "s"}]})
    assert masked == {"password": "***", "nested": {"api_token": "***", "Private_Key": "***", "ok": "v"},
                      "commands": "dbt build", "list": [{"secret": "***"}]}


def test_long_parameter_values_are_capped():
    masked = m.mask_parameters({"statement": "select 1 " * 1000})
    assert len(masked["statement"]) < 400


def test_the_main_log_is_the_newest_attempt_and_not_the_debug_one():
    files = [{"filename": "1/dbt build", "attemptNumber": 1}, {"filename": "2/debug_task", "attemptNumber": 2},
             {"filename": "2/dbt build", "attemptNumber": 2}]
    assert m.main_log(files) == "2/dbt build"
    assert m.main_log([]) is None
