"""Secrets masked in every text we return (issue #15): the masker in Part I, over a positive
corpus of 15 families and a negative corpus of ordinary lines (tests/secret_corpus.py), in plain
text, JSON, cut at a cap, and streamed line by line through a PEM block."""
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secret_corpus import FAMILIES, NEGATIVE, POSITIVE

from orchestra_mcp import _SECRET_RE as _RX
from orchestra_mcp import _mask_match as _sub
from orchestra_mcp import _mask_once, clean_text, mask_line, mask_secrets

CAP = 300  # the project caps returned lines; masking must come first


def _forms(secret):
    """The secret as it can appear: raw, JSON-escaped once and twice."""
    once = json.dumps(secret)[1:-1]
    return {secret, once, json.dumps(once)[1:-1]}


def leaks(secret, out):
    """True if the secret, or its first 8 characters, survives in out (in any escaping)."""
    return any(f[:8] in out for f in _forms(secret))


def variants(text):
    yield "plain", text
    yield "json", json.dumps(text)  # escaped quotes, \n escapes for multi-line entries
    yield "json-in-json", json.dumps(json.dumps({"msg": text}))
    yield "newline-escapes", json.dumps({"log": "first line\n" + text + "\nlast line"})
    yield "non-ascii", json.dumps("Café: " + text + " — déjà vu")  # ensure_ascii: \u00e9 nearby
    yield "non-ascii-adjacent", json.dumps("é" + text + "é")
    yield "glued-after-escapes", json.dumps("previous line\n" + text + "\n\tnext") + json.dumps("\t" + text)


def test_corpus_sizes():
    assert len(POSITIVE) >= 40 and len(NEGATIVE) >= 40
    for fam in FAMILIES:
        assert sum(f == fam for f, _, _ in POSITIVE) >= 2, fam
    assert len(FAMILIES) == 15


def test_corpus_secrets_are_shape_correct():
    text = "\n".join(t for _, t, _ in POSITIVE)
    assert {len(k) for k in re.findall(r"\bA[KS]IA[A-Z0-9]+", text)} == {20}
    assert {len(k) for k in re.findall(r"\bgh[pousr]_[A-Za-z0-9]+", text)} == {40}
    assert {len(k) for k in re.findall(r"\bglpat-[\w-]+", text)} == {26}
    assert {len(k) for k in re.findall(r"\b[rs]k_live_[A-Za-z0-9]+", text)} == {32}
    assert {len(s) for f, _, secrets in POSITIVE if f == "aws_secret" for s in secrets[:1]} == {40}


# (a) positives masked, idempotent; in JSON strings, with \n escapes and \u00e9 nearby
@pytest.mark.parametrize("family,text,secrets", POSITIVE, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(POSITIVE)])
def test_positive_masked_and_idempotent(family, text, secrets):
    for name, v in variants(text):
        out = mask_secrets(v)
        for s in secrets:
            assert not leaks(s, out), (name, s, out)
        assert mask_secrets(out) == out, name


# (b) mask-then-cap never leaks a prefix, even when the cap cuts right through the secret
def _straddle(text, secret, visible=4):
    """Pad text on the left so that only `visible` characters of secret fit before the cap."""
    return "." * max(0, CAP - visible - text.index(secret) - 1) + " " + text


@pytest.mark.parametrize("family,text,secrets", POSITIVE, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(POSITIVE)])
def test_mask_then_cap_never_leaks(family, text, secrets):
    for s in secrets:
        for visible in (4, 9, 16):
            for v in (text, _straddle(text, s, visible), _straddle(json.dumps(text), json.dumps(s)[1:-1], visible)):
                capped = mask_secrets(v)[:CAP]
                assert not any(leaks(x, capped) for x in secrets), capped


def test_cap_then_mask_would_leak():
    """Why masking must come before any cap: a cut token no longer looks like a token."""
    leaked = set()
    for family, text, secrets in POSITIVE:
        for s in secrets:
            v = _straddle(text, s, visible=9)
            assert not leaks(s, mask_secrets(v)[:CAP])  # mask, then cap: safe
            if leaks(s, mask_secrets(v[:CAP])):  # cap, then mask: 9 chars of the secret survive
                leaked.add(family)
    assert {"jwt", "github", "aws_id", "url"} <= leaked, leaked
    jwt = next(t for f, t, _ in POSITIVE if f == "jwt")
    token = jwt.split()[4]
    cut = jwt.index(token) + 3 + 40  # inside the payload: the second '.' is gone
    assert mask_secrets(jwt[:cut]) == jwt[:cut]  # cap-then-mask: header + part of payload leak
    assert token[:20] not in mask_secrets(jwt)[:cut]  # mask-then-cap: nothing of it
    gh = "GITHUB_TOKEN is ghp_FakeTokenForTestsOnly0123456789ABCDE; expires"
    assert "ghp_FakeTo" in mask_secrets(gh[:26])  # 6 random chars left: under the 10-char minimum
    assert "FakeTo" not in mask_secrets(gh)[:26]


# (c) negatives come back unchanged: the identical object, and JSON-encoded too
@pytest.mark.parametrize("line", NEGATIVE)
def test_negative_unchanged(line):
    assert mask_secrets(line) is line
    for name, v in variants(line):
        assert mask_secrets(v) == v, name


# documented decisions
@pytest.mark.parametrize("text,expected", [
    ("db_password=x", "db_password=***"),
    ("private_key_passphrase: x private_key_path: /k.p8", "private_key_passphrase: *** private_key_path: /k.p8"),
    ("aws.secret_key: y", "aws.secret_key: ***"),
    ("client-secret=z", "client-secret=***"),
    ("my_api_key=abc", "my_api_key=***"),
    ("apikey=abc ApiKey=abc x-api-key: abc", "apikey=*** ApiKey=*** x-api-key: ***"),
    ("clientSecret=abc sessionToken: abc", "clientSecret=*** sessionToken: ***"),
    ("primary_key=id sort_key: x", "primary_key=id sort_key: x"),
    ("password_policy=strict PASSWORD_MIN=8", "password_policy=strict PASSWORD_MIN=8"),
    ("Authorization: Bearer abc123def456", "Authorization: Bearer ***"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("sent Basic dXNlcjpwYXNz upstream", "sent Basic *** upstream"),  # decodes to user:pass
    ("Basic authentication required", "Basic authentication required"),
    ("Bearer token expired", "Bearer token expired"),
    ("pk_live_FAKEpublishable000000 sk_live_FAKEsecret0000000000", "pk_live_FAKEpublishable000000 sk_live_***"),
    ("Cookie: sid=abc; theme=dark", "Cookie: ***"),
    ("?token=abc&page=2", "?token=***&page=2"),
    ("f(password=abc), g(token=x,y=1)", "f(password=***), g(token=***,y=1)"),
    ("password = None; token: null", "password = None; token: null"),
    ("if token == expected:", "if token == expected:"),
    ('{"private_key": "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIFAKE\\n-----END EC PRIVATE KEY-----\\n"}',
     '{"private_key": "-----BEGIN EC PRIVATE KEY----- *** -----END EC PRIVATE KEY-----\\n"}'),
    ('password: "unterminated and cut', 'password: "***'),
    ("3f2a9c1e5b7d8f0a1c2e3b4d5f6a7b8c9d0e1f2a AKIAFAKE0EXAMPLE0001", "3f2a9c1e5b7d8f0a1c2e3b4d5f6a7b8c9d0e1f2a AKIA***"),
])
def test_decisions(text, expected):
    assert mask_secrets(text) == expected


# (d) PEM blocks: streaming over lines, and whole text, complete or cut before END
_BLOCK = ["2024-05-01 INFO writing key\n", "-----BEGIN RSA PRIVATE KEY-----\n", "MIIEfakeFAKEfake0001\n",
          "Proc-Type: 4,ENCRYPTED\n", "\n", "FAKEfakeFAKEfake0002==\n", "-----END RSA PRIVATE KEY-----\n",
          "after: password=hunter2-fake\n", "plain line\n"]


def _stream(lines, state=False):
    out = []
    for line in lines:
        masked, state = mask_line(line, state)
        out.append(masked)
    return out, state


def test_pem_streaming_complete_block():
    out, state = _stream(_BLOCK)
    assert out[:2] == _BLOCK[:2] and out[6] == _BLOCK[6] and out[8] == _BLOCK[8]
    assert out[2:6] == ["***\n", "***\n", "\n", "***\n"]  # a blank line stays blank
    assert out[7] == "after: password=***\n"
    assert state is False
    whole = mask_secrets("".join(_BLOCK))
    assert "FAKEfake" not in whole and "ENCRYPTED" not in whole
    assert "-----BEGIN RSA PRIVATE KEY----- *** -----END RSA PRIVATE KEY-----\n" in whole


def test_pem_streaming_cut_before_end():
    out, state = _stream(_BLOCK[:6])
    assert state is True and out[2:] == ["***\n", "***\n", "\n", "***\n"]
    more, state = _stream(["FAKEfakeFAKEfake0003", "-----END RSA PRIVATE KEY----- tail token=abc\r\n"], state)
    assert more == ["***", "-----END RSA PRIVATE KEY----- tail token=***\r\n"] and state is False
    more, state = _stream(["FAKE0004 -----END RSA PRIVATE KEY-----\n"], True)
    assert more == ["***-----END RSA PRIVATE KEY-----\n"] and state is False
    whole = mask_secrets("".join(_BLOCK[:6]))
    assert whole.endswith("-----BEGIN RSA PRIVATE KEY----- *** ") and "FAKE" not in whole


def test_pem_streaming_one_line_and_kv_header():
    one = "key=-----BEGIN PRIVATE KEY-----\\nMIIfakeFAKE\\n-----END PRIVATE KEY-----\\n\n"
    out, state = _stream([one, "next\n"])
    assert out == ["key=-----BEGIN PRIVATE KEY----- *** -----END PRIVATE KEY-----\\n\n", "next\n"] and not state
    out, state = _stream(["private_key: -----BEGIN OPENSSH PRIVATE KEY-----\n", "b3BlbnNzaFAKE\n"])
    assert out == ["private_key: -----BEGIN OPENSSH PRIVATE KEY-----\n", "***\n"] and state


def test_pem_streaming_blocks_of_lines():
    """mask_line also takes blocks of whole lines (a scan can read 64 KB at a time)."""
    text = "".join(_BLOCK * 3)
    for size in (1, 2, 3, 5, 40):
        lines = text.splitlines(True)
        blocks = ["".join(lines[i:i + size]) for i in range(0, len(lines), size)]
        out, state = _stream(blocks)
        joined = "".join(out)
        assert "FAKEfake" not in joined and "ENCRYPTED" not in joined and "hunter2" not in joined, size
        assert joined.count("-----END RSA PRIVATE KEY-----") == 3 and state is False


# (e) property: never raises, idempotent, same result as the plain regex pass, same object if unchanged
_FRAGMENTS = st.sampled_from([
    "password", "Password", "db_pwd", "token", "Token", "api_key", "apiKey", "secret", "cookie", "Authorization",
    "=", ":", ": ", "==", "=>", '"', "'", "\\", '\\"', "\\\\", "\\n", "{", "}", ";", "&", ",", ")", " ", "\t", "\n",
    "Bearer ", "Basic ", "dXNlcjpwYXNz", "eyJhbGciOi", ".", "eyJzdWIi", "AKIA", "ASIA", "FAKE0EXAMPLE0001",
    "ghp_", "github_pat_", "glpat-", "xoxb-", "sk_live_", "whsec_", "hooks.slack.com/services/", "0123456789abcdef",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "://", "@", "u:p", "*", "***", "null",
    "é", "\u00e9", "\u0130", "\u212a", "\u017f", "\u2028", "x",
])
_TEXTS = st.one_of(st.text(max_size=120), st.lists(st.one_of(_FRAGMENTS, st.text(max_size=4)), max_size=25).map("".join))


@settings(max_examples=600, deadline=None)
@given(_TEXTS)
def test_property_idempotent_and_equivalent(text):
    out = mask_secrets(text)
    assert mask_secrets(out) == out
    assert _mask_once(text) == _RX.sub(_sub, text)  # the trigger/finder fast path changes nothing
    if out == text:
        assert out is text


# (f) where the project applies it: clean_text masks before its cap, the result belt on JSON
@pytest.mark.parametrize("family,text,secrets", POSITIVE, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(POSITIVE)])
def test_clean_text_masks_before_it_caps(family, text, secrets):
    for secret in secrets:
        for visible in (4, 9):
            capped = clean_text(_straddle(text, secret, visible), CAP)
            assert not any(leaks(x, capped) for x in secrets), capped


def test_the_result_belt_masks_json_text_before_it_cuts():
    import orchestra_mcp as m
    rows = [{"message": text} for _, text, _ in POSITIVE] * 40   # more than MAX_RESULT_CHARS
    out = m.bounded_result(m.dump({"rows": rows}))
    assert len(out) <= m.MAX_RESULT_CHARS
    for _, _, secrets in POSITIVE:
        assert not any(leaks(secret, out) for secret in secrets)


def test_a_key_cut_off_in_one_string_masks_only_that_string_and_the_result_stays_json():
    import orchestra_mcp as m
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
    text = m.bounded_result(m.dump({"lines": ["a", pem, "after the key", {"k": "v"}], "n": 1}))
    value = json.loads(text)
    assert value["lines"][2:] == ["after the key", {"k": "v"}] and value["n"] == 1
    assert "b3BlbnNzaC1rZXkt" not in text


def test_if_masking_the_text_broke_the_json_each_string_is_masked_on_its_own(monkeypatch):
    import orchestra_mcp as m
    real = m.mask_secrets
    monkeypatch.setattr(m, "mask_secrets", lambda t: real(t).replace('"n"', '"n', 1))
    value = json.loads(m.bounded_result(m.dump({"password": "hunter2xx", "note": "Bearer abc123def456",
                                                "n": 1})))
    assert value == {"password": "***", "note": "Bearer ***", "n": 1}
