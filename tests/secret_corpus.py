"""Secrets that orchestra-mcp must mask, and ordinary lines it must leave alone (issue #15).

Every secret here is invented: shape-correct (an AWS key id is ``AKIA`` + 16 characters, a GitHub
token 40, ...) and obviously fake (``FAKE``, ``EXAMPLE``, ``0000``). None was ever valid anywhere.

``POSITIVE``: ``(family, text, secrets)``. ``text`` is a realistic log line (a few span lines: PEM
blocks); ``secrets`` are the exact values that must never appear in any output once ``text`` went
through the server (nor should their first 8 characters). Masking keeps the marker that says what
was masked (``password=***``, ``Bearer ***``, ``ghp_***``) and removes the value.

``NEGATIVE``: ordinary lines, several of them deliberately secret-looking (``max_tokens=4096``,
``authenticator=SNOWFLAKE_JWT``, ``loaded 401 rows``, a git SHA, UUIDs), that must come back
unchanged, character for character.

``FAMILIES`` (15, at least two entries each) and ``KEY_NAMES`` (the secret key names of the
key=value / key: value / JSON families; each is a key, whole or as the last ``_``/``.``/``-`` part,
of at least two entries) describe the coverage; ``SECRETS`` is every secret value once.
``TASK_PARAMETERS`` and ``RUN_PARAMETERS`` are task-run parameter dicts built from the same
secrets (values under secret-looking keys, a secret inside a free-text command, ordinary keys that
look like secrets but are not); ``PARAMETER_SECRETS`` are the secrets they hold.

The fake Orchestra plants all of this in SECRETS_RUN_ID (see ``tests/fake_orchestra.py``). Standard
library only; nothing here is imported by the server.
"""

_JWT_A = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmYWtlLXVzZXItMDAwMSIsImlzcyI6ImV4YW1wbGUuaW52YWxpZCIs"
          "ImV4cCI6MTcwMDAwMDAwMH0.bm90LWEtcmVhbC1zaWduYXR1cmUtZm9yLXRlc3RzLW9ubHk")
_JWT_B = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2Uta2lkLTAxIn0.eyJzdWIiOiJzdmMtb3JjaGVzdHJhLXRlc3QiLCJzY29wZSI6InJlYWQ6"
          "cnVucyIsImZha2UiOnRydWV9.RkFLRVNJR05BVFVSRTAxMjM0NTY3ODlhYmNkZWZGQUtF")
_PEM_BODY = ["MIIEowIBAAKCAQEAfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfake",
             "Q0ZBS0VGQUtFRkFLRUZBS0VGQUtFRkFLRUZBS0VGQUtFRkFLRUZBS0VGQUtFRkFLRUZB",
             "bm90IGEgcmVhbCBrZXksIGp1c3QgdGVzdCBkYXRhIGZvciB0aGUgbWFza2VyIDAwMDAw",
             "Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZmZha2VmYWtlZmFrZWZha2VmYWtlZmFr"]
_OPENSSH_BODY = ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
                 "QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2UwMDAwMAAA"]
_GCP_BODY = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCfakeGCPkey00",
             "ZmFrZUdDUHNlcnZpY2VhY2NvdW50a2V5Zm9ydGVzdHNvbmx5MDAwMDAwMDAwMDAw"]
_PEM_TEXT = ("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(_PEM_BODY) + "\n-----END RSA PRIVATE KEY-----")

# Secrets that the parameter dicts below reuse (each also appears in a POSITIVE entry).
_DB_PASSWORD = "Zx9-fake-Pw-0001"
_API_KEY = "FAKEapikey1234567890abcd"
_SESSION_TOKEN = "FwoFAKEsessionTOKEN0000/1111+2222fakeEXAMPLE"
_CLIENT_SECRET = "ffake-cs-0000-1111-2222"
_URL_PASSWORD = "S3cr3t!Fake01"
_BEARER = "FAKEbearer0123456789abcdefXYZ"
_CREDENTIALS = "fake-cred-json-blob-0002"

POSITIVE = [
    # --- password in a URL: scheme://user:password@host
    ("url", "2026-11-23 03:00:01 INFO connecting to postgresql://etl:" + _URL_PASSWORD
            + "@db.example.invalid:5432/warehouse", [_URL_PASSWORD]),
    ("url", "sqlalchemy.exc.OperationalError: (2003, \"Can't connect to MySQL server\") engine "
            "url=mysql+pymysql://loader:Tr0ub4dor-fake-3@mysql.internal:3306/raw", ["Tr0ub4dor-fake-3"]),
    ("url", "redis.exceptions.ConnectionError: Error 111 connecting to redis://:r3disFakePassW0rd@cache.local:6379/0. "
            "Connection refused.", ["r3disFakePassW0rd"]),
    ("url", 'snowflake_conn = "snowflake://analyst:p@ss%40FakeWord99@acme-xy12345/ANALYTICS/PUBLIC?warehouse=WH"',
     ["p@ss%40FakeWord99"]),
    # --- key=value
    ("kv_eq", "[2026-11-23 03:00:02] DEBUG config: host=db.internal port=5432 user=etl db_password=" + _DB_PASSWORD
              + " sslmode=require", [_DB_PASSWORD]),
    ("kv_eq", "+ export SNOWFLAKE_PASSWORD='fake pass phrase 42'", ["fake pass phrase 42"]),
    ("kv_eq", "Running: dbt-cloud job run --api-key=" + _API_KEY + " --job-id 4242", [_API_KEY]),
    ("kv_eq", "GET /oauth/callback?code=xyz&client-secret=cs_fake_9f8e7d6c5b4a&state=abc 302",
     ["cs_fake_9f8e7d6c5b4a"]),
    ("kv_eq", "password=FakeLineStart-77 (from .env line 3)", ["FakeLineStart-77"]),
    ("kv_eq", "INFO refreshed dbt cloud session: access_token=dbtc_FAKEfakeFAKEfake0123456789 expires_in=3600",
     ["dbtc_FAKEfakeFAKEfake0123456789"]),
    ("kv_eq", "ftp: login ok, host=sftp.partner.invalid user=acme passwd=Fake-Passwd-0042 mode=passive",
     ["Fake-Passwd-0042"]),
    ("kv_eq", "mysqldump --host=replica.internal --user=backup pwd=FakeShortPwd-9x --single-transaction",
     ["FakeShortPwd-9x"]),
    ("kv_eq", "webhook verified with secret=FakeSecretValue-001 (sha256)", ["FakeSecretValue-001"]),
    ("kv_eq", "loader: OPENAI_API_KEY=FAKEopenaiKEY0000111122223333 model=gpt-4o max_tokens=4096",
     ["FAKEopenaiKEY0000111122223333"]),
    ("kv_eq", "geo client: apikey=FAKEapikeyLower0001 region=eu", ["FAKEapikeyLower0001"]),
    ("kv_eq", "s3fs: endpoint=https://minio.internal access_key=FakeAccessKey-0001-xyz bucket=raw",
     ["FakeAccessKey-0001-xyz"]),
    ("kv_eq", "minio: secret_key=FakeMinioSecret-0002 access_key_name=loader", ["FakeMinioSecret-0002"]),
    ("kv_eq", "snowpark: private_key=MIIEvFAKEinlineP8key0000AAAABBBB user=LOADER_SVC",
     ["MIIEvFAKEinlineP8key0000AAAABBBB"]),
    ("kv_eq", "gcloud: credentials=" + _CREDENTIALS + " project=acme-ads", [_CREDENTIALS]),
    ("kv_eq", "+ export AWS_SESSION_TOKEN=" + _SESSION_TOKEN, [_SESSION_TOKEN]),
    ("kv_eq", "requests: retrying with authorization=FakeAuthValue0001xyz after 401", ["FakeAuthValue0001xyz"]),
    # --- key: value
    ("kv_colon", "aws.secret_key: FAKEsecretKEY0123456789abcdefFAKEsecret0", ["FAKEsecretKEY0123456789abcdefFAKEsecret0"]),
    ("kv_colon", "      password: Hunter2-Fake!", ["Hunter2-Fake!"]),
    ("kv_colon", "> X-Api-Key: fakeapikey-7788-0000-aaaa", ["fakeapikey-7788-0000-aaaa"]),
    ("kv_colon", "  client_secret: " + _CLIENT_SECRET + "  # from vault", [_CLIENT_SECRET]),
    ("kv_colon", "  smtp.passwd: FakeSmtpPasswd-77", ["FakeSmtpPasswd-77"]),
    ("kv_colon", "    db_pwd: FakeDbPwd-0077", ["FakeDbPwd-0077"]),
    ("kv_colon", "  signing_secret: FakeSigningSecret-0003", ["FakeSigningSecret-0003"]),
    ("kv_colon", "  fivetran.api_key: FakeFivetranKey0001", ["FakeFivetranKey0001"]),
    ("kv_colon", "  s3.access_key: FAKEs3accessKEY0002", ["FAKEs3accessKEY0002"]),
    ("kv_colon", "  oauth.private_key: FAKEpkcs8InlineKey0003", ["FAKEpkcs8InlineKey0003"]),
    ("kv_colon", "  credential: FakeCredValue-0004", ["FakeCredValue-0004"]),
    ("kv_colon", "  aws.session_token: FakeStsSessionToken-0005", ["FakeStsSessionToken-0005"]),
    ("kv_colon", "> Proxy-Authorization: FakeProxyAuth-0006z", ["FakeProxyAuth-0006z"]),
    ("kv_colon", "> Cookie: sessionid=FakeSessionCookie0001; csrftoken=FakeCsrfToken0002",
     ["FakeSessionCookie0001", "FakeCsrfToken0002"]),
    ("kv_colon", "< Set-Cookie: _session=FakeSetCookie0003; Path=/; HttpOnly", ["FakeSetCookie0003"]),
    # --- JSON pairs
    ("json", '{"level": "error", "msg": "auth failed", "password": "hunter2-fake", "user": "etl"}', ["hunter2-fake"]),
    ("json", r'task payload={\"user\": \"etl\", \"password\": \"hunter2-esc-FAKE\"}', ["hunter2-esc-FAKE"]),
    ("json", '{"apiKey": "FAKEapiKEY-0000-1111-2222", "endpoint": "https://api.example.invalid"}',
     ["FAKEapiKEY-0000-1111-2222"]),
    ("json", "settings = {'token': 'tok_FAKE_9a8b7c6d5e4f', 'timeout': 30}", ["tok_FAKE_9a8b7c6d5e4f"]),
    ("json", '{"client_secret":"cs-FAKE-quote\\"inside-0000","grant_type":"client_credentials"}',
     ['cs-FAKE-quote\\"inside-0000', "inside-0000"]),
    ("json", '{"smtp_passwd": "FakeSmtpPasswdJson-9", "port": 587}', ["FakeSmtpPasswdJson-9"]),
    ("json", '{"pwd": "FakeJsonPwd-0011", "dsn": "orders"}', ["FakeJsonPwd-0011"]),
    ("json", '{"webhook.secret": "fake-webhook-secret-01", "events": ["run.failed"]}', ["fake-webhook-secret-01"]),
    ("json", '{"api_key": "FAKEjsonApiKey0012", "region": "eu"}', ["FAKEjsonApiKey0012"]),
    ("json", '{"access_key": "FAKEjsonAccessKey0013", "bucket": "acme-raw"}', ["FAKEjsonAccessKey0013"]),
    ("json", '{"secret_key": "FAKEjsonSecretKey0014", "bucket": "acme-raw"}', ["FAKEjsonSecretKey0014"]),
    ("json", '{"gcp_credentials": "FAKEjsonCredBlob0015", "project": "acme-ads"}', ["FAKEjsonCredBlob0015"]),
    ("json", '{"cookie": "_gh_sess=FakeGhSessCookie0016"}', ["FakeGhSessCookie0016"]),
    ("json", '{"session_token": "FakeJsonSessionToken0017", "expires": 3600}', ["FakeJsonSessionToken0017"]),
    ("json", '{"Authorization": "Token FakeDrfToken-000111"}', ["FakeDrfToken-000111"]),
    ("json", '{"partner": {"credentials": "FakeNestedCreds-0018"}}', ["FakeNestedCreds-0018"]),
    # --- Bearer
    ("bearer", "request headers: {'Accept': 'application/json', 'Authorization': 'Bearer " + _BEARER + "'}",
     [_BEARER]),
    ("bearer", 'curl -s -H "Authorization: Bearer fAkE.t0ken-value_0123456789" https://api.example.invalid/v1/jobs',
     ["fAkE.t0ken-value_0123456789"]),
    ("bearer", "WARN http: 401 from api.example.invalid, retrying with bearer FAKE0a1b2c3d4e5f6a7b8c9d in 2s",
     ["FAKE0a1b2c3d4e5f6a7b8c9d"]),
    ("bearer", "> Authorization: Bearer " + _JWT_A, [_JWT_A]),
    # --- Basic
    ("basic", "> Authorization: Basic ZXRsX3VzZXI6Tm90QVJlYWxQdzE=", ["ZXRsX3VzZXI6Tm90QVJlYWxQdzE="]),
    ("basic", "proxy handshake used Basic YWlyZmxvdzpmYWtlLWJhc2ljLXNlY3JldA== for user airflow",
     ["YWlyZmxvdzpmYWtlLWJhc2ljLXNlY3JldA=="]),
    ("basic", 'headers={"authorization": "Basic c3ZjOmZha2UtYmFzaWMtMDA="}', ["c3ZjOmZha2UtYmFzaWMtMDA="]),
    # --- JWT
    ("jwt", "DEBUG auth: decoded session " + _JWT_A + " in 2ms", [_JWT_A]),
    ("jwt", "jwt: " + _JWT_B, [_JWT_B]),
    ("jwt", _JWT_B + " was rejected: signature expired", [_JWT_B]),
    ("jwt", '{"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "' + _JWT_B + '"}', [_JWT_B]),
    # --- AWS access key ids
    ("aws_id", "botocore.credentials: Found credentials in environment variables, key AKIAFAKE0EXAMPLE0001",
     ["AKIAFAKE0EXAMPLE0001", "FAKE0EXAMPLE0001"]),
    ("aws_id", "AKIAFAKE0EXAMPLE0002 is not authorized to perform: s3:GetObject", ["FAKE0EXAMPLE0002"]),
    ("aws_id", "aws_access_key_id = ASIAFAKETEMP0000042Z", ["FAKETEMP0000042Z"]),
    ("aws_id", '{"Credentials": {"AccessKeyId": "ASIAFAKE0STS0000007Q", "Expiration": "2026-11-23T13:00:00Z"}}',
     ["FAKE0STS0000007Q"]),
    # --- AWS secret access keys, next to a key name
    ("aws_secret", "aws_secret_access_key = FAKEfakeFAKEfake/0000+EXAMPLEkeyNOTreal1",
     ["FAKEfakeFAKEfake/0000+EXAMPLEkeyNOTreal1"]),
    ("aws_secret", '{"AccessKeyId": "ASIAFAKE0STS0000008R", "SecretAccessKey": "fakeSECRETaccessKEY/0000+1111/2222FAKEfa"}',
     ["fakeSECRETaccessKEY/0000+1111/2222FAKEfa", "FAKE0STS0000008R"]),
    ("aws_secret", "+ export AWS_SECRET_ACCESS_KEY=FAKE0000aws0000SECRET0000key0000FAKE0000",
     ["FAKE0000aws0000SECRET0000key0000FAKE0000"]),
    # --- GitHub tokens
    ("github", "git clone https://x-access-token:ghs_FAKEfakeFAKEfake0123456789abcdefGHIJ@github.com/acme/analytics.git",
     ["FAKEfakeFAKEfake0123456789abcdefGHIJ"]),
    ("github", "GITHUB_TOKEN is ghp_FakeTokenForTestsOnly0123456789ABCDE; expires in 30 days",
     ["FakeTokenForTestsOnly0123456789ABCDE"]),
    ("github", "pip install git+https://github_pat_11FAKE0000000000000000_FAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfake"
               "FAKEfakeFAKEfake0000000@github.com/acme/private-pkg.git",
     ["11FAKE0000000000000000_FAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfakeFAKEfake0000000"]),
    ("github", "checkout: using ghp_FAKE0000TEST1111ONLY2222fake3333TOKN for submodules",
     ["FAKE0000TEST1111ONLY2222fake3333TOKN"]),
    ("github", "remote: Invalid username or password. oauth gho_FAKE0000fake1111FAKE2222fake3333FAKE rejected",
     ["FAKE0000fake1111FAKE2222fake3333FAKE"]),
    # --- GitLab tokens
    ("gitlab", "CI: docker login cr.gitlab.example.invalid using glpat-FAKEfakeFAKE01234567 ok",
     ["FAKEfakeFAKE01234567"]),
    ("gitlab", "git remote set-url origin https://oauth2:glpat-FAKE0000fake1111FAKE@gitlab.example.com/acme/dbt.git",
     ["FAKE0000fake1111FAKE"]),
    ("gitlab", "PRIVATE-TOKEN: glpat-fakeFAKEfake-0000_ab", ["fakeFAKEfake-0000_ab"]),
    # --- Slack
    ("slack", "slack notify failed for xoxb-730194628551-2048371956120-FAKEfakeFAKEfake00000000: invalid_auth",
     ["730194628551-2048371956120-FAKEfakeFAKEfake00000000", "FAKEfakeFAKEfake00000000"]),
    ("slack", "alerts: posting with xoxb-482915736204-3948571620384-FAKEslackBOTtoken0000abc to #data-alerts",
     ["482915736204-3948571620384-FAKEslackBOTtoken0000abc", "FAKEslackBOTtoken0000abc"]),
    ("slack", "posting alert to https://hooks.slack.com/services/T00FAKE00/B00FAKE00/FAKEfakeFAKEfakeFAKEwebh",
     ["FAKEfakeFAKEfakeFAKEwebh", "T00FAKE00/B00FAKE00"]),
    # --- Stripe
    ("stripe", "stripe.error.AuthenticationError: Invalid API Key provided: sk_live_FAKEstripeLIVE0000fake00",
     ["FAKEstripeLIVE0000fake00"]),
    ("stripe", "payouts sync: using sk_live_FAKE1111stripe2222LIVE33 for account acct_FAKE0001",
     ["FAKE1111stripe2222LIVE33"]),
    ("stripe", "webhook verify: whsec_FAKEfakeFAKEfake0000111122223333 restricted rk_live_FAKE0000fake1111FAKE2222",
     ["FAKEfakeFAKEfake0000111122223333", "FAKE0000fake1111FAKE2222"]),
    # --- PEM private key blocks (multi-line, one-line JSON, cut before END)
    ("pem", "loading key from secret store:\n" + _PEM_TEXT + "\ndone", _PEM_BODY),
    ("pem", '{"type": "service_account", "project_id": "acme-fake", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
            + "\\n".join(_GCP_BODY) + '\\n-----END PRIVATE KEY-----\\n", "client_email": "etl@acme-fake.invalid"}',
     _GCP_BODY),
    ("pem", "ssh key dump (truncated):\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(_OPENSSH_BODY), _OPENSSH_BODY),
    # --- connection strings
    ("connstr", "Server=tcp:sql01.internal;Database=dwh;User ID=etl;Password=p@ssFAKE-0099;", ["p@ssFAKE-0099"]),
    ("connstr", "pyodbc.Error: ('08001', 'login failed') DRIVER={ODBC Driver 18 for SQL Server};"
                "SERVER=tcp:acme.database.windows.net,1433;UID=etl;PWD={Fake;Pw0rd-0100};Encrypt=yes",
     ["Fake;Pw0rd-0100", "Pw0rd-0100"]),
    ("connstr", "Data Source=db01;Initial Catalog=dwh;User Id=sa;Password=FakeSaPw-123;TrustServerCertificate=True",
     ["FakeSaPw-123"]),
]

FAMILIES = sorted({family for family, _, _ in POSITIVE})

# The key names of the key=value, key: value and JSON families (the list).
KEY_NAMES = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_key", "secret_key",
             "private_key", "client_secret", "authorization", "credential", "cookie", "session_token")

SECRETS = sorted({secret for _, _, secrets in POSITIVE for secret in secrets})

NEGATIVE = [
    "max_tokens=4096",
    "usage: prompt_tokens=812 completion_tokens=120 total_tokens: 1234",
    "session_timezone=UTC",
    "credentials_file=/etc/x.json",
    "HEAD is now at 3f2a9c1e5b7d8f0a1c2e3b4d5f6a7b8c9d0e1f2a Merge pull request #42 from acme/fix-orders",
    "commit 9b1d4e7a2c5f8b0d3e6a9c2f5b8e1d4a7c0f3b6e",
    "run_id=7c9e6679-7425-40de-944b-e07fc1f90ae7 attempt=1 try_number=2",
    "pipeline_run_id: 2b6d8f1a-4c3e-4a9b-8f27-1e5c9d3a7b48 task_run_id: 6c0f2a8e-4d7b-4e13-9a5f-3b8d1e6c0a47",
    "unique_id: model.acme.fct_orders depends_on: [source.acme.raw.orders, model.acme.stg_customers]",
    "test.acme.not_null_fct_orders_order_id.5e8b2a91c3 failed with 3 rows",
    "authenticator=SNOWFLAKE_JWT account=acme-xy12345 role=TRANSFORMER",
    "INFO loader: loaded 401 rows into RAW.ORDERS",
    "12:01:09  Done. PASS=12 WARN=0 ERROR=0 SKIP=0 TOTAL=12",
    "12:01:02  1 of 12 OK created sql table model analytics.fct_orders .................... [SUCCESS 1 in 2.31s]",
    "12:01:05  3 of 12 PASS not_null_fct_orders_order_id ...................................... [PASS in 0.84s]",
    "002003 (42S02): SQL compilation error: Object 'RAW.ORDERS' does not exist or not authorized.",
    "250001 (08001): Failed to connect to DB: acme.snowflakecomputing.com:443. Incorrect username or password "
    "was specified.",
    "390114 (08001): Authentication token has expired.  The user must authenticate again.",
    "Traceback (most recent call last):",
    '  File "/opt/airflow/dags/etl_daily.py", line 42, in load_orders',
    "KeyError: 'token'",
    "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://api.example.com/v1/token",
    "cloning https://user@host/path",
    "dsn=postgresql://host:5432/db",
    "key_column=id",
    "password_policy=strict",
    "token_count: 12",
    "secret_name=prod/db",
    "checksum=q83vEjRWeJCrze8SNFZ4kA==",
    'etag: "dGhpcyBpcyBub3QgYSBzZWNyZXQgYXQgYWxs"',
    "object version 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
    "primary_key=id sort_key: created_at",
    "basic auth is disabled for this endpoint",
    "Basic authentication is not configured",
    "Bearer token expired, refreshing",
    "timezone=Asia/Tokyo",
    "stripe publishable key pk_live_FAKEpublishable0000000000 loaded",
    "disk_live_backup_2024_000000000000 completed",
    "task_test_runner_0123456789 passed",
    "tokenizer: cl100k_base",
    "passwordless login enabled for user etl",
    "Using credentials from ~/.aws/credentials",
    "[2026-11-23 12:00:00,123] {taskinstance.py:1138} INFO - Dependencies all met for <TaskInstance: "
    "etl_daily.load_orders scheduled__2026-11-23T00:00:00+00:00 [queued]>",
    "s3://acme-raw/orders/2026/11/23/part-00000.parquet",
    "sessionTimezone=UTC maxTokens=256 tokenCount=3",
    "Cookie consent banner disabled",
    "Authorization header missing from request",
    "ConnectionConfig(host='db', user='etl', password=None)",
    '{"password": null, "token": "", "api_key": "***"}',
    "private_key_id: 0123abcd private_key_file=/secrets/key.p8",
    "contact data-team@acme.example for access",
    "git@github.com:acme/analytics.git",
    "data:application/json;base64,eyJhIjogMX0=",
    "http://localhost:8080/api/v1/dags?limit=100&offset=0",
    "WARNING: secret rotation scheduled for 2026-12-01",
    "api_key_name=orchestra-prod",
    "token_type: bearer",
    "The OAuth token was refreshed at 12:00:31",
    "postgresql://etl:***@db.example.com:5432/x",
    "Encountered an error: Runtime Error  Could not find profile named 'acme'",
    "ghost_mode=on glossary_path=docs/glossary.md",
    "xoxo from the on-call team",
]

# Task-run parameters as a run renders them: secrets under secret-looking keys (nested too), one
# inside a free-text command, and ordinary keys that only look like secrets (they must survive).
TASK_PARAMETERS = {
    "command": f"python partners/sync.py --api-key={_API_KEY} --partner acme-eu",
    "package_manager": "PIP",
    "project_dir": "partners",
    "db_password": _DB_PASSWORD,
    "warehouse_url": f"postgresql://etl:{_URL_PASSWORD}@db.example.invalid:5432/warehouse",
    "private_key": _PEM_TEXT,
    "oauth": {"client_id": "acme-partner-sync", "client_secret": _CLIENT_SECRET},
    "headers": {"Accept": "application/json", "Authorization": f"Bearer {_BEARER}"},
    "max_tokens": 4096,
    "session_timezone": "UTC",
    "credentials_file": "/etc/x.json",
    "authenticator": "SNOWFLAKE_JWT",
}
RUN_PARAMETERS = {
    "partner": "acme-eu",
    "aws": {"session_token": _SESSION_TOKEN, "region": "eu-west-1"},
    "gcp_credentials": _CREDENTIALS,
    "total_tokens": 1234,
    "run_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
}
PARAMETER_SECRETS = [_API_KEY, _DB_PASSWORD, _URL_PASSWORD, *_PEM_BODY, _CLIENT_SECRET, _BEARER,
                     _SESSION_TOKEN, _CREDENTIALS]
