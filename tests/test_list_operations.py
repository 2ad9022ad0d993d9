"""list_operations: model and test level history (issue #16, section 4).

GET /operations takes one status per request, promises no order, gives `operationDuration` no
unit, and one workspace held 20,000 operations in two days. This file checks the fake's volume
of generated operations that the tool is tested against.
"""
from collections import Counter
from datetime import timedelta

import api_contract
import pytest
import requests
from fake_orchestra import MODES, VOLUME_DAYS, VOLUME_FAILING_OPERATION, FakeOrchestra


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_fakes_operation_volume_belongs_to_real_task_runs_and_conforms_in_every_mode(mode):
    with FakeOrchestra(mode=mode, operations=20_000, response_check=api_contract.check_response) as fake:
        workspace = fake.workspace
        now = workspace.now_us()
        volume = [o for o in workspace.operations_between(now - VOLUME_DAYS * 86_400_000_000, now, None)
                  if "volume" in o["tags"]]
        assert len(volume) == 20_000

        def task_run(operation):
            run = workspace.run(operation["pipelineRunId"])
            return next(t for t in workspace.task_runs_of(run, now) if t.id == operation["taskRunId"])

        assert all(task_run(o).task.integration == "DBT_CORE" for o in volume[::97])
        statuses = Counter(o["operationStatus"] for o in volume)
        assert set(statuses) <= {"SUCCEEDED", "FAILED", "SKIPPED", "WARNING", "REUSED"} and statuses["FAILED"]
        for operation in (o for o in volume if o["operationName"] == VOLUME_FAILING_OPERATION):
            assert (operation["operationStatus"] == "FAILED") == (task_run(operation).status == "FAILED")
        window = {"time_from": (fake.now() - timedelta(days=2)).isoformat(), "time_to": fake.now().isoformat()}
        for page in (1, 2):
            body = requests.get(fake.base_url + "/operations", params={**window, "page": page, "page_size": 100},
                                headers={"Authorization": "Bearer test-key"}, timeout=30).json()
            assert body["total"] >= 19_000 and len(body["results"]) == 100
        report = api_contract.contract_report(fake)
    assert report.violations == [], report.text()
    assert report.responses_validated == 2
