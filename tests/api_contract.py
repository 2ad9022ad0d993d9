"""Check requests and JSON responses against the facts of Orchestra's published OpenAPI spec.

The facts are ``tests/api_facts.json``, a verbatim copy of ``shared/orchestra-api-facts.json``
(``tests/test_contract.py`` keeps the two equal): for each endpoint its query parameters, limits,
headers, body schema and response schema, plus every schema and enum those reach. Nothing here is
hand-written about the API except ALLOWLIST (what newer Orchestra documents and the spec lacks) and
COMMA_LIST_ENUMS (which enum a comma-list filter's values come from). Standard library only.

Every check returns a list of human-readable violations; an empty list means it conforms.

=========================================== =====================================================
function                                    what it checks
=========================================== =====================================================
match_endpoint(method, path)                the facts' endpoint key (``"GET /task_runs"``) and
                                            path parameters, or None; ``path`` is decoded, with or
                                            without the ``/api/engine/public`` prefix; path IDs
                                            must look like UUIDs except ``pipeline_id_or_alias``
check_request(method, path, query,          endpoint known; path IDs UUIDv4; only declared (or
              header_names=(), body=None)   allowlisted) query parameters and headers; integers,
                                            limits, enums, comma lists, date-times; both window
                                            bounds < 7 days apart on the windowed lists; bodies
                                            only with declared fields of the right types
check_journal_entry(entry)                  check_request on one ``FakeOrchestra.journal`` entry
check_response(method, path, status, body)  a parsed JSON body (None: no body) against the
                                            endpoint's schema for that status: names, types,
                                            nullability, required fields, enums, nested schemas,
                                            arrays, maps, ``PaginatedResponse<T>``; extra fields
                                            are violations unless allowlisted. Statuses the facts
                                            do not declare must carry ``{"detail": ...}``
contract_report(fake, clear=False)          a ContractReport: every journal entry of a
                                            FakeOrchestra checked, plus what its response hook
                                            recorded (counts, violations, deliberate deviations)
=========================================== =====================================================

How an integration suite uses it (the fake calls ``check_response`` in its request thread, only
when the hook is set, and keeps per-endpoint counts and violation strings, never bodies)::

    import api_contract
    from fake_orchestra import FakeOrchestra

    @pytest.fixture(scope="session")
    def fake_orchestra():
        server = FakeOrchestra(response_check=api_contract.check_response).start()
        yield server
        server.stop()

    @pytest.fixture
    def fake(fake_orchestra):
        fake_orchestra.clear_journal()
        fake_orchestra.clear_response_checks()
        yield fake_orchestra
        report = api_contract.contract_report(fake_orchestra, clear=True)
        assert not report.violations, report.text()
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

FACTS_PATH = Path(__file__).with_name("api_facts.json")
FACTS = json.loads(FACTS_PATH.read_text(encoding="utf-8"))
API_PREFIX = urlsplit(FACTS["baseUrl"]).path            # "/api/engine/public"

# What newer Orchestra documents and the published spec lacks. Nothing else may pass.
ALLOWLIST = {
    "query": {
        # newer Orchestra documents it on the workspace-wide listing only (GLAMA list_task_runs),
        # never on GET /pipeline_runs/{pipeline_run_id}/task_runs
        ("GET /task_runs", "include_superseded"): {"type": "boolean", "required": False,
                                                   "nullable": False},
    },
    "headers": {
        # the late-2026 workspace selector; optional on every operation (GLAMA, PLATFORM-SPEC)
        ("*", "x-orchestra-account-id"),
        # ranged artifact reads: the newest official tools send it and expect 206 (HW, HW-TEST);
        # the log download declares `range` in the spec already
        ("GET /pipeline_runs/{pipeline_run_id}/task_runs/{task_run_id}/artifacts/download", "range"),
    },
    "fields": {
        # newer servers number each attempt of a task run (HW reads it); the spec has only
        # numberOfAttempts, so a client must not depend on it
        ("TaskRunResponse", "attemptNumber"),
    },
}

# The spec types these filters as plain strings; their values come from these enums.
COMMA_LIST_ENUMS = {
    ("GET /pipeline_runs", "status"): "PipelineRunStatus",
    ("GET /task_runs", "status"): "TaskRunStatus",
    ("GET /task_runs", "integration"): "IntegrationsEnum",
    ("GET /operations", "operation_type"): "OperationType",
}

# Transport headers that are not API parameters; any other header must be declared.
STANDARD_HEADERS = frozenset({
    "accept", "accept-encoding", "accept-language", "authorization", "cache-control",
    "connection", "content-length", "content-type", "expect", "host", "keep-alive", "te",
    "transfer-encoding", "user-agent",
})

WINDOW_LIMIT = timedelta(days=7)
_UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INTEGER_RE = re.compile(r"\s*[+-]?\d+\s*")
_TRUE_FALSE = ("true", "false", "1", "0")


################################################################################
# Endpoints and requests
################################################################################

def _compile(key: str) -> tuple[str, re.Pattern]:
    method, template = key.split(" ", 1)

    def parameter(match: re.Match) -> str:
        name = match.group(1)
        shape = "[^/]+" if name == "pipeline_id_or_alias" else _UUID_RE
        return f"(?P<{name}>{shape})"

    return method, re.compile(re.sub(r"\\\{(\w+)\\\}", parameter, re.escape(template)))


_ROUTES = [(key, *_compile(key)) for key in FACTS["endpoints"]]


def match_endpoint(method: str, path: str) -> tuple[str, dict] | None:
    """``("GET /pipeline_runs/{pipeline_run_id}/status", {"pipeline_run_id": ...})`` or None."""
    if path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):]
    for key, route_method, pattern in _ROUTES:
        found = pattern.fullmatch(path)
        if found and route_method == method.upper():
            return key, found.groupdict()
    return None


def _is_uuid4(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 4 and bool(re.fullmatch(_UUID_RE, text))
    except ValueError:
        return False


def parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 date-time (``Z``, ``+hh:mm`` or naive = UTC), or None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_request(method: str, path: str, query: dict, header_names=(), body=None) -> list[str]:
    """Violations of one request; ``query`` maps names to lists of values (``parse_qs``)."""
    found = match_endpoint(method, path)
    if found is None:
        return [f"{method} {path}: not an endpoint of the published spec"]
    key, params = found
    endpoint = FACTS["endpoints"][key]
    problems = [f"path parameter {name} {value!r} is not a UUIDv4"
                for name, value in params.items()
                if name != "pipeline_id_or_alias" and not _is_uuid4(value)]
    problems += _check_query(key, endpoint, query)
    problems += _check_headers(key, endpoint, header_names)
    problems += _check_body(endpoint, body)
    return [f"{key}: {problem}" for problem in problems]


def _query_spec(key: str, endpoint: dict, name: str) -> dict | None:
    return endpoint["query"].get(name) or ALLOWLIST["query"].get((key, name))


def _check_query(key: str, endpoint: dict, query: dict) -> list[str]:
    problems = []
    for name, values in query.items():
        spec = _query_spec(key, endpoint, name)
        if spec is None:
            problems.append(f"query parameter {name!r} is not declared")
            continue
        if len(values) != 1:
            problems.append(f"query parameter {name!r} is sent {len(values)} times")
        for value in values:
            problems += [f"query {name}={value!r}: {p}"
                         for p in _check_query_value(key, name, spec, value)]
    problems += [f"required query parameter {name!r} is missing"
                 for name, spec in endpoint["query"].items()
                 if spec.get("required") and name not in query]
    if any("range at most 7 days" in note for note in endpoint["notes"]):
        problems += _check_window(query)
    return problems


def _check_query_value(key: str, name: str, spec: dict, value: str) -> list[str]:
    kind = spec["type"]
    if kind == "integer":
        if not _INTEGER_RE.fullmatch(value):
            return ["not an integer"]
        number = int(value)
        if "minimum" in spec and number < spec["minimum"]:
            return [f"below the minimum {spec['minimum']}"]
        if "maximum" in spec and number > spec["maximum"]:
            return [f"above the maximum {spec['maximum']}"]
        return []
    if kind == "boolean":
        return [] if value.strip().lower() in _TRUE_FALSE else ["not a boolean"]
    if spec.get("format") == "date-time":
        return [] if parse_datetime(value) else ["not an ISO-8601 date-time"]
    if spec.get("format") == "uuid4":
        return [] if _is_uuid4(value) else ["not a UUIDv4"]
    if "enum" in spec:
        return [] if value in FACTS["enums"][spec["enum"]] else [f"not a {spec['enum']} value"]
    if "comma-separated" in spec.get("note", ""):
        return _check_comma_list(key, name, spec, value)
    return []


def _check_comma_list(key: str, name: str, spec: dict, value: str) -> list[str]:
    if value == "":
        return []
    items = value.split(",")
    if any(not item.strip() for item in items):
        return ["has an empty item"]
    enum = COMMA_LIST_ENUMS.get((key, name))
    if enum:
        allowed = FACTS["enums"][enum]
        return [f"{item!r} is not a {enum} value" for item in items if item.strip() not in allowed]
    if "UUIDs" in spec.get("note", ""):
        return [f"{item!r} is not a UUIDv4" for item in items if not _is_uuid4(item.strip())]
    return []


def _check_window(query: dict) -> list[str]:
    present = [name for name in ("time_from", "time_to") if name in query]
    if len(present) != 2:
        missing = "time_to" if present == ["time_from"] else "time_from" if present else "both"
        return [f"a windowed list needs both time_from and time_to (missing: {missing})"]
    low, high = (parse_datetime(query[name][-1]) for name in ("time_from", "time_to"))
    if low is None or high is None:
        return []  # already reported as not a date-time
    if low >= high:
        return ["time_from is not before time_to"]
    if high - low >= WINDOW_LIMIT:
        return [f"the window is {high - low}, not less than 7 days"]
    return []


def _check_headers(key: str, endpoint: dict, header_names) -> list[str]:
    declared = {name.lower() for name in endpoint["headers"]}
    allowed = {name for where, name in ALLOWLIST["headers"] if where in ("*", key)}
    return [f"header {name!r} is not declared"
            for name in sorted({name.lower() for name in header_names})
            if name not in STANDARD_HEADERS | declared | allowed]


def _check_body(endpoint: dict, body) -> list[str]:
    declared = endpoint["body"]
    if declared is None:
        return [] if body is None else ["sends a body, but the endpoint takes none"]
    if body is None:
        return [] if not declared["required"] else ["the required body is missing"]
    if isinstance(body, str):
        return ["the body is not JSON"]
    return _Checker().value(body, {"type": "object", "ref": declared["schema"]}, "body")


def check_journal_entry(entry: dict) -> list[str]:
    """check_request on one ``FakeOrchestra.journal`` entry (``header_names`` when recorded,
    else its ``headers`` subset and ``range``)."""
    names = entry.get("header_names")
    if names is None:
        names = list(entry.get("headers") or ()) + (["range"] if entry.get("range") else [])
    return check_request(entry["method"], entry["path"], entry["query"] or {}, names,
                         entry.get("body"))


################################################################################
# Responses
################################################################################

class _Checker:
    """Walks a value against a facts type; ``generic`` binds ``T`` of PaginatedResponse<T>."""

    def __init__(self, generic: str | None = None):
        self.generic = generic

    def value(self, value, spec: dict, where: str) -> list[str]:
        kind = spec.get("type", "any")
        if kind == "any":
            return []
        if value is None:
            return [] if spec.get("nullable") else [f"{where}: null, but it is not nullable"]
        if kind == "union":
            return self._union(value, spec, where)
        check = getattr(self, "_" + kind)
        return check(value, spec, where)

    def _string(self, value, spec, where):
        if not isinstance(value, str):
            return [f"{where}: {_kind(value)}, expected a string"]
        if "const" in spec and value != spec["const"]:
            return [f"{where}: {value!r}, expected {spec['const']!r}"]
        if "enum" in spec and value not in FACTS["enums"][spec["enum"]]:
            return [f"{where}: {value!r} is not a {spec['enum']} value"]
        if "enumValues" in spec and value not in spec["enumValues"]:
            return [f"{where}: {value!r} is not one of {spec['enumValues']}"]
        if spec.get("format") == "uuid4" and not _is_uuid4(value):
            return [f"{where}: {value!r} is not a UUIDv4"]
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            return [f"{where}: longer than {spec['maxLength']} characters"]
        return []

    def _integer(self, value, spec, where):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: {_kind(value)}, expected an integer"]
        return self._bounds(value, spec, where)

    def _number(self, value, spec, where):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return [f"{where}: {_kind(value)}, expected a number"]
        return self._bounds(value, spec, where)

    @staticmethod
    def _bounds(value, spec, where):
        if "minimum" in spec and value < spec["minimum"]:
            return [f"{where}: {value} is below the minimum {spec['minimum']}"]
        if "maximum" in spec and value > spec["maximum"]:
            return [f"{where}: {value} is above the maximum {spec['maximum']}"]
        return []

    def _boolean(self, value, spec, where):
        return [] if isinstance(value, bool) else [f"{where}: {_kind(value)}, expected a boolean"]

    def _array(self, value, spec, where):
        if not isinstance(value, list):
            return [f"{where}: {_kind(value)}, expected an array"]
        problems = []
        if len(value) < spec.get("minItems", 0):
            problems.append(f"{where}: fewer than {spec['minItems']} items")
        for index, item in enumerate(value):
            problems += self.value(item, spec.get("items", {}), f"{where}[{index}]")
        return problems

    def _object(self, value, spec, where):
        if not isinstance(value, dict):
            return [f"{where}: {_kind(value)}, expected an object"]
        if "ref" in spec:
            return self.schema(value, spec["ref"], where)
        problems = []
        for name, item in value.items():
            if spec.get("keyFormat") == "uuid4" and not _is_uuid4(name):
                problems.append(f"{where}: key {name!r} is not a UUIDv4")
            if "values" in spec:
                problems += self.value(item, spec["values"], f"{where}[{name!r}]")
        return problems

    def _union(self, value, spec, where):
        attempts = [self.value(value, option, where) for option in spec["oneOf"]]
        if any(not attempt for attempt in attempts):
            return []
        return min(attempts, key=len)  # the closest alternative explains best what is wrong

    def schema(self, value: dict, name: str, where: str) -> list[str]:
        if name == "T":
            name = self.generic
        fields = FACTS["schemas"][name]["fields"]
        problems = [f"{where}: required field {key!r} of {name} is missing"
                    for key, spec in fields.items() if spec.get("required") and key not in value]
        is_open = FACTS["schemas"][name]["additionalProperties"] is True
        for key, item in value.items():
            if key in fields:
                problems += self.value(item, fields[key], f"{where}.{key}")
            elif not is_open and (name, key) not in ALLOWLIST["fields"]:
                problems.append(f"{where}: field {key!r} is not in {name}")
        return problems


def _kind(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _check_type_expression(expression: str, body, where: str = "body") -> list[str]:
    """``Name``, ``Array<Name>`` or ``PaginatedResponse<Name>``."""
    outer, _, inner = expression.partition("<")
    inner = inner.rstrip(">")
    if outer == "Array":
        return _Checker().value(body, {"type": "array", "items": {"type": "object", "ref": inner}},
                                where)
    if inner:
        return _Checker(generic=inner).value(body, {"type": "object", "ref": f"{outer}<T>"}, where)
    return _Checker().value(body, {"type": "object", "ref": outer}, where)


def check_response(method: str, path: str, status: int, body) -> list[str]:
    """Violations of one JSON answer (``body`` parsed; None when the answer had no body)."""
    found = match_endpoint(method, path)
    if found is None:
        return [f"{method} {path} -> {status}: not an endpoint of the published spec"]
    key = found[0]
    endpoint = FACTS["endpoints"][key]
    if status == endpoint["successStatus"]:
        expected = endpoint["response"]
        if expected == "any":
            problems = []
        elif expected == "none":
            problems = [] if body is None else ["body: present, but the spec declares none"]
        else:
            problems = _check_type_expression(expected, body)
    elif str(status) in endpoint["errorResponses"]:
        problems = _check_type_expression(endpoint["errorResponses"][str(status)], body)
    elif status >= 400:
        problems = _check_error_convention(body)
    else:
        problems = [f"status {status} is not declared"]
    return [f"{key} -> {status}: {problem}" for problem in problems]


def _check_error_convention(body) -> list[str]:
    """Statuses the spec leaves out answer FastAPI's ``{"detail": str | list}``."""
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return ['body: an error must be {"detail": ...} and nothing else']
    if not isinstance(body["detail"], (str, list)):
        return ["body.detail: expected a string or a list"]
    return []


################################################################################
# Reports
################################################################################

@dataclass
class ContractReport:
    """What ``contract_report`` found; ``violations`` is empty when everything conforms."""

    violations: list[str] = field(default_factory=list)
    requests_validated: int = 0
    responses_validated: int = 0
    responses_by_endpoint: dict = field(default_factory=dict)
    deliberate: list[str] = field(default_factory=list)   # off-spec on purpose (a fake's mode)

    def text(self) -> str:
        lines = [f"{self.requests_validated} requests and {self.responses_validated} responses "
                 f"checked against the published API; {len(self.violations)} violations:"]
        return "\n".join(lines + [f"  - {v}" for v in self.violations])


def contract_report(fake, clear: bool = False) -> ContractReport:
    """Check every journal entry of ``fake`` and collect what its response hook recorded (see
    ``FakeOrchestra(response_check=...)``). ``clear`` empties both afterwards. Repeated
    violations are listed once, with a count."""
    entries = fake.journal
    served = fake.response_checks
    if clear:
        fake.clear_journal()
        fake.clear_response_checks()
    problems = [p for entry in entries for p in check_journal_entry(entry)]
    return ContractReport(
        violations=_counted(problems + served["violations"]),
        requests_validated=len(entries),
        responses_validated=served["checked"],
        responses_by_endpoint=dict(served["by_endpoint"]),
        deliberate=_counted(served["deliberate"]),
    )


def _counted(messages: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for message in messages:
        counts[message] = counts.get(message, 0) + 1
    return [message if n == 1 else f"{message} ({n} times)" for message, n in counts.items()]
