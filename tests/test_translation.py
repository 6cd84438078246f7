"""Translation (G1–G3) against the local TranslateText emulator
(local/translate.py, a marked pseudo-translation `[<target>] <text>`): the
requests that reach the endpoint are exactly Amazon Translate's
(`kefu-admin translate` uses the very client and rules the functions do), a
long text goes in parts, failures come back marked; end to end, a visitor's
message reaches the agent translated and a reply reaches the visitor in its
language, stored once with both texts for sync, the messages route and
history."""

import json
import urllib.request

import boto3
import botocore
import pytest

from kefu import LOCAL_ENV, Tenant, Ws, admin_cli, run
from test_session_ops import assigned

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
    assert admin_cli("translate", "en", "Where is my parcel?") == \
        {"source": "en", "target": "en", "text": None, "error": None}, "already English: left as it is"
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
        # Named in the agent's own language unless it asks for the other.
        assert (await ann.ok("GET", "/languages"))["display"] == "zh", "the tenant's default agent language"
        await ann.ok("PATCH", "/agents/me", {"language": "en"})
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


async def translating(session, tenant):
    """Translation on; `ann` (system language English) connected and given
    a visitor's session: (ann http, ann ws, visitor http, visitor ws, session id)."""
    await tenant.admin.ok("PATCH", "/settings", {"translation": True})
    ann = await tenant.agent("ann")
    me = await ann.ok("PATCH", "/agents/me", {"language": "en"})
    assert me["language"] == "en"
    ws = await Ws.connect(session, ann.token)
    visitor, s = await assigned(tenant, ws)
    vws = await Ws.connect(session, visitor.token)
    return ann, ws, visitor, vws, s["id"]


def requests_since(before):
    """The emulator's requests after the first `before` (bodies)."""
    return [r["body"] for r in control()["requests"][before:]]


def test_a_visitor_s_message_reaches_the_agent_translated_and_the_reply_reaches_the_visitor_in_its_language(emulator):
    async def body(session):
        tenant = Tenant(session)
        ann, ws, visitor, vws, sid = await translating(session, tenant)
        asked = await vws.send_message(sid, {"type": "text", "text": "bonjour, où est mon colis ?"})
        assert asked["type"] == "message.sent", asked
        got = await ws.wait_event("message.new", lambda e: e["message"]["seq"] == asked["message"]["seq"])
        assert got["message"]["content"]["text"] == "bonjour, où est mon colis ?", "the original"
        assert got["message"]["translation"] == {
            "source": "fr", "target": "en", "text": "[en] bonjour, où est mon colis ?", "error": None}
        assert requests_since(0) == [
            {"Text": "bonjour, où est mon colis ?", "SourceLanguageCode": "auto", "TargetLanguageCode": "en"}]
        assert (await ann.ok("GET", f"/sessions/{sid}"))["visitorLanguage"] == "fr", "G1: on the session"
        listed = (await ann.ok("GET", "/sessions"))["items"]
        assert [x["visitorLanguage"] for x in listed if x["id"] == sid] == ["fr"], "in the panel's list too"

        # G2, automatic: the visitor reads the reply in French; the agent has both.
        reply = await ws.send_message(sid, {"type": "text", "text": "It left this morning."})
        assert reply["message"]["content"]["text"] == "It left this morning."
        assert reply["message"]["translation"]["text"] == "[fr] It left this morning."
        seen = await vws.wait_event("message.new", lambda e: e["message"]["seq"] == reply["message"]["seq"])
        assert seen["message"]["content"] == {"type": "text", "text": "[fr] It left this morning."}
        assert seen["message"]["translation"] == {"source": "en", "target": "fr"}
        assert requests_since(1) == [
            {"Text": "It left this morning.", "SourceLanguageCode": "en", "TargetLanguageCode": "fr"}]

        # Manual: the language the agent picks.
        mode = await ann.ok("PUT", f"/sessions/{sid}/translation", {"mode": "manual", "target": "ja"})
        assert mode["outgoingTranslation"] == {"mode": "manual", "target": "ja"}
        picked = await ws.send_message(sid, {"type": "text", "text": "Anything else?"})
        assert picked["message"]["translation"]["text"] == "[ja] Anything else?"
        seen = await vws.wait_event("message.new", lambda e: e["message"]["seq"] == picked["message"]["seq"])
        assert seen["message"]["content"]["text"] == "[ja] Anything else?"

        # A resend translates nothing again; neither do other types nor mode off.
        served = control()["served"]
        again = await ws.send_message(sid, {"type": "text", "text": "Anything else?"},
                                      client_msg_id=picked["message"]["clientMsgId"])
        assert again["duplicate"] is True and again["message"] == picked["message"]
        await ann.ok("PUT", f"/sessions/{sid}/translation", {"mode": "off"})
        plain = await ws.send_message(sid, {"type": "text", "text": "Bye for now."})
        assert plain["message"]["translation"] is None
        image = await vws.send_message(sid, {"type": "image", "url": "https://shop.example/parcel.png"})
        assert image["message"]["translation"] is None
        assert control()["served"] == served, "no request for a resend, mode off, or an image"

        # Stored once, read back with both texts: sync, the messages route, history.
        synced = await ws.request("sync", sessionId=sid, afterSeq=0)
        texts = {m["seq"]: (m["translation"] or {}).get("text") for m in synced["messages"]}
        assert texts[asked["message"]["seq"]] == "[en] bonjour, où est mon colis ?"
        assert texts[reply["message"]["seq"]] == "[fr] It left this morning."
        route = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert route == synced["messages"]
        mine = (await visitor.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert [m["content"].get("text") for m in mine[:3]] == [
            "bonjour, où est mon colis ?", "[fr] It left this morning.", "[ja] Anything else?"]
        await ann.ok("POST", f"/sessions/{sid}/close", {})
        nxt = (await visitor.ok("POST", "/sessions", {}))["session"]
        await ws.wait_event("session.assigned", lambda e: e["session"]["id"] == nxt["id"])
        history = (await ann.ok("GET", f"/sessions/{nxt['id']}/history?limit=50"))["messages"]
        by_seq = {m["seq"]: m for m in history if m["sessionId"] == sid}
        assert by_seq[asked["message"]["seq"]]["translation"]["text"] == "[en] bonjour, où est mon colis ?"
        assert by_seq[reply["message"]["seq"]]["content"]["text"] == "It left this morning."
        assert by_seq[reply["message"]["seq"]]["translation"]["text"] == "[fr] It left this morning."
        assert control()["served"] == served, "read back without translating again"
        for w in (ws, vws):
            await w.close()

    run(body)


def test_refused_pairs_failures_and_throttling_deliver_the_original_marked(emulator):
    async def body(session):
        tenant = Tenant(session)
        ann, ws, visitor, vws, sid = await translating(session, tenant)

        async def from_visitor(text):
            sent = await vws.send_message(sid, {"type": "text", "text": text})
            assert sent["type"] == "message.sent", sent
            got = await ws.wait_event("message.new", lambda e: e["message"]["seq"] == sent["message"]["seq"])
            assert got["message"]["content"]["text"] == text, "the original, delivered"
            return got["message"]["translation"]

        # G3: Traditional Chinese pairs only with Chinese; the agent reads English.
        t = await from_visitor("請問我的包裹在哪裡？")
        assert t["source"] == "zh-TW" and t["target"] == "en" and t["text"] is None
        assert t["error"]["code"] == "unsupported_pair" and "zh-TW" in t["error"]["message"]
        assert (await ann.ok("GET", f"/sessions/{sid}"))["visitorLanguage"] == "zh-TW"
        # …and an English reply in automatic mode is refused before any request.
        served = control()["served"]
        reply = await ws.send_message(sid, {"type": "text", "text": "Let me check."})
        assert reply["message"]["translation"]["error"]["code"] == "unsupported_pair"
        seen = await vws.wait_event("message.new", lambda e: e["message"]["seq"] == reply["message"]["seq"])
        assert seen["message"]["content"]["text"] == "Let me check." and "translation" not in seen["message"]
        assert control()["served"] == served

        # The service down, then throttling past the retries: marked, delivered.
        control(fail=10)
        assert (await from_visitor("bonjour ?"))["error"]["code"] == "unavailable"
        control(fail=0, throttle=10)
        assert (await from_visitor("merci"))["error"]["code"] == "throttled"
        control(throttle=0)
        assert (await from_visitor("merci beaucoup"))["text"] == "[en] merci beaucoup"
        stored = (await ann.ok("GET", f"/sessions/{sid}/messages"))["messages"]
        assert [(m["translation"]["error"] or {}).get("code") for m in stored if m["sender"]["kind"] == "visitor"] == \
            ["unsupported_pair", "unavailable", "throttled", None]
        for w in (ws, vws):
            await w.close()

    run(body)


def test_a_five_thousand_character_chinese_message_is_translated_in_parts(emulator):
    async def body(session):
        tenant = Tenant(session)
        ann, ws, visitor, vws, sid = await translating(session, tenant)
        sentence = "您好，我想问一下订单的情况。"
        text = (sentence * (5_000 // len(sentence) + 1))[:5_000]
        assert len(text) == 5_000 and len(text.encode()) == 15_000
        sent = await vws.send_message(sid, {"type": "text", "text": text})
        assert sent["type"] == "message.sent", sent
        parts = requests_since(0)
        assert len(parts) == 2 and all(len(p["Text"].encode()) <= 10_000 for p in parts)
        assert parts[0]["Text"].endswith("。"), "cut at a sentence end"
        assert [p["SourceLanguageCode"] for p in parts] == ["auto", "zh"]
        assert "".join(p["Text"] for p in parts) == text
        got = await ws.wait_event("message.new", lambda e: e["message"]["seq"] == sent["message"]["seq"])
        t = got["message"]["translation"]
        assert t["error"] is None and t["source"] == "zh"
        assert t["text"] == "".join(f"[en] {p['Text']}" for p in parts)
        assert got["message"]["content"]["text"] == text
        for w in (ws, vws):
            await w.close()

    run(body)


def test_with_translation_off_or_a_visitor_already_in_the_agent_s_language_nothing_changes(emulator):
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")  # translation off (the default), language zh
        ws = await Ws.connect(session, ann.token)
        visitor, s = await assigned(tenant, ws)
        vws = await Ws.connect(session, visitor.token)
        served = control()["served"]
        sent = await vws.send_message(s["id"], {"type": "text", "text": "bonjour"})
        assert sent["message"]["translation"] is None
        assert control()["served"] == served
        # On, a Chinese visitor for a Chinese-speaking agent: detected, left as it is.
        await tenant.admin.ok("PATCH", "/settings", {"translation": True})
        same = await vws.send_message(s["id"], {"type": "text", "text": "你好，在吗？"})
        assert same["message"]["translation"] == {"source": "zh", "target": "zh", "text": None, "error": None}
        reply = await ws.send_message(s["id"], {"type": "text", "text": "在的，请讲。"})
        assert reply["message"]["translation"] is None, "zh to zh: no request"
        assert control()["served"] == served + 1
        # Bad modes are refused clearly; a visitor may not choose.
        for bad, code in [({"mode": "manual"}, "invalid_field"), ({"mode": "manual", "target": "xx"}, "unsupported_language"),
                          ({"mode": "auto", "target": "ja"}, "invalid_field"), ({"mode": "loud"}, "invalid_field")]:
            status, out = await ann.call("PUT", f"/sessions/{s['id']}/translation", bad)
            assert (status, out["error"]["code"]) == (400, code), (bad, out)
        status, out = await visitor.call("PUT", f"/sessions/{s['id']}/translation", {"mode": "off"})
        assert (status, out["error"]["code"]) == (403, "forbidden")
        status, out = await ann.call("PATCH", "/agents/me", {"language": "fr"})
        assert (status, out["error"]["code"]) == (400, "unsupported_language")
        for w in (ws, vws):
            await w.close()

    run(body)
