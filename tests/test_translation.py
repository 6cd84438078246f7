"""Translation (issue 11), first slice: the translator behind its trait, as
the functions will call it (`kefu-admin translate` uses the very client and
rules), against the local TranslateText emulator (local/translate.py): the
requests that reach the endpoint are exactly Amazon Translate's, a long
text goes in parts, and failures come back as marked errors."""

import json
import urllib.request

import boto3
import botocore
import pytest

from kefu import LOCAL_ENV, Tenant, admin_cli, run

EMULATOR = LOCAL_ENV["AWS_ENDPOINT_URL_TRANSLATE"]
TARGET = "AWSShineFrontendService_20170701.TranslateText"


def control(**change):
    req = urllib.request.Request(EMULATOR + "/_kefu/translate", data=json.dumps(change).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


@pytest.fixture
def emulator():
    control(reset=True, fail=0, throttle=0)
    yield
    control(fail=0, throttle=0)


def test_a_long_chinese_text_reaches_translate_text_in_parts_exactly_as_amazon_translate_expects(emulator):
    sentence = "您好，您的订单已经发货，预计三天内送达。"
    text = sentence * (5_000 // len(sentence) + 1)  # over 5,000 characters: over 15,000 bytes
    out = admin_cli("translate", "en", text)
    requests = control()["requests"]
    assert len(requests) >= 2
    for r in requests:
        assert r["target"] == TARGET and r["contentType"] == "application/x-amz-json-1.1"
        assert set(r["body"]) == {"Text", "SourceLanguageCode", "TargetLanguageCode"}, r["body"]
        assert r["body"]["TargetLanguageCode"] == "en"
        assert len(r["body"]["Text"].encode()) <= 10_000
        assert r["body"]["Text"].endswith("。"), "cut at a sentence end"
    # The first part is detected; the rest go from the language it was found in.
    assert [r["body"]["SourceLanguageCode"] for r in requests] == ["auto"] + ["zh"] * (len(requests) - 1)
    assert "".join(r["body"]["Text"] for r in requests) == text
    assert out["source"] == "zh"
    assert out["text"] == "".join(f"[en] {r['body']['Text']}" for r in requests)


def test_same_language_refused_pairs_failures_and_throttling_are_marked(emulator):
    assert admin_cli("translate", "en", "Where is my parcel?") == {"text": "Where is my parcel?", "source": "en"}
    # G3: Traditional Chinese only to and from Chinese: refused before any request.
    before = control()["served"]
    out = admin_cli("translate", "en", "你好", "zh-TW")
    assert out["error"]["code"] == "unsupported_pair" and "zh-TW" in out["error"]["message"]
    assert control()["served"] == before
    assert admin_cli("translate", "zh", "你好", "zh-TW")["text"] == "[zh] 你好"
    # The service down, or throttling past the SDK's own retries.
    control(fail=10)
    assert admin_cli("translate", "en", "你好")["error"]["code"] == "unavailable"
    control(fail=0, throttle=10)
    assert admin_cli("translate", "en", "你好")["error"]["code"] == "throttled"
    control(throttle=0)
    assert admin_cli("translate", "ja", "Hello")["text"] == "[ja] Hello"


def test_only_a_function_granted_translate_may_call_the_emulator():
    translate = boto3.client(
        "translate", region_name=LOCAL_ENV["AWS_REGION"], endpoint_url=EMULATOR,
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(user_agent_appid="http-tags", retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        translate.translate_text(Text="hi", SourceLanguageCode="en", TargetLanguageCode="fr")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_agents_list_every_language_named_in_their_language_with_the_pairing_rule():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        en = await ann.ok("GET", "/languages")
        assert en["display"] == "en" and len(en["languages"]) == 75
        names = {lang["code"]: lang["name"] for lang in en["languages"]}
        assert names["zh-TW"] == "Chinese (Traditional)" and names["mn"] == "Mongolian"
        assert en["onlyWith"] == [{"code": "zh-TW", "with": ["zh"]}, {"code": "mn", "with": ["zh"]}]
        zh = await ann.ok("GET", "/languages?display=zh")
        assert {lang["code"]: lang["name"] for lang in zh["languages"]}["en"] == "英语"
        status, out = await ann.call("GET", "/languages?display=fr")
        assert (status, out["error"]["code"]) == (400, "invalid_field")
        visitor, _ = await tenant.visitor()
        status, out = await visitor.call("GET", "/languages")
        assert (status, out["error"]["code"]) == (403, "forbidden")

    run(body)
