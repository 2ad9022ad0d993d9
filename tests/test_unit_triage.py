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


DBT_LOG = """02:06:16 Running with dbt=1.9.1
02:06:20 1 of 3 OK created sql view model acme.stg_orders ......... [SUCCESS 1 in 0.8s]
02:14:09 Completed with 1 error, 0 partial successes, and 0 warnings:
02:14:09
02:14:09   Database Error in model fct_orders (models/marts/fct_orders.sql)
  000904 (42000): SQL compilation error: error line 12 at position 8
  invalid identifier 'ORDER_TOTAL_USD'
02:14:09
02:14:09 Done. PASS=41 WARN=0 ERROR=1 SKIP=3 NO-OP=0 TOTAL=45""".splitlines()


def test_dbt_errors_come_first_with_their_detail_lines_and_the_summary():
    lines = m.extract_log_lines(DBT_LOG)
    errors = lines[: lines.index("...")]
    assert any("Database Error in model fct_orders" in line for line in errors)
    assert "  invalid identifier 'ORDER_TOTAL_USD'" in errors
    assert any("Done. PASS=41" in line for line in errors)
    assert sum(len(line) + 1 for line in lines) <= 3000


def test_a_python_traceback_keeps_its_last_three_frames_and_the_exception():
    frames = []
    for n in range(8):
        frames += [f'  File "/app/step{n}.py", line {n}, in step{n}', f"    step{n + 1}()"]
    log = ["starting"] + ["Traceback (most recent call last):"] + frames + ["KeyError: 'customer_id'", "bye"]
    lines = m.extract_log_lines(log)
    assert "Traceback (most recent call last):" in lines and "KeyError: 'customer_id'" in lines
    kept = [line for line in lines if line.startswith('  File "')]
    assert kept == [frames[10], frames[12], frames[14]]
    assert m._exception_line(lines) == "KeyError: 'customer_id'"


def test_error_lines_are_capped_and_the_last_lines_follow():
    log = [f"{i} ERROR something broke number {i} " + "x" * 200 for i in range(200)] + ["the end"]
    lines = m.extract_log_lines(log)
    assert sum(len(line) + 1 for line in lines) <= 3000
    assert lines[0].startswith("0 ERROR") and lines[-1] == "the end"


def test_log_text_loses_ansi_escapes_and_control_characters():
    lines = m.extract_log_lines(["\x1b[31mERROR\x1b[0m boom\x07 \u202eevil", "fine"])
    assert lines[0] == "ERROR boom evil"


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
