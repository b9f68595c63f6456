"""Block Kit builders: structure, ids, escaping, sandbox banner and Slack's limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.cyclr.models import (
    Account,
    AccountConnector,
    AuthKind,
    AuthMethod,
    Connector,
    ConnectorProperty,
)
from bot.playground.blockkit import (
    validate_message,
    validate_options_response,
    validate_view,
    view_too_large,
)
from bot.slack import blocks as kit
from bot.slack import ids
from bot.slack.blocks import Message
from bot.slack.blocks.common import SANDBOX_NOTE
from bot.store.records import InstallRecord, InstallState

NOW = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)
EVIL = "<!channel> & co <@U12345> <http://evil.example|click>"
LONG = "Ω🚀" * 150  # 300 code points, 450 UTF-16 units
HUGE = ("Syncs <b>contacts</b> & deals > fast < slow. " * 250)[:10_000]  # 10 kB with < > &
AUTH_TYPES = {
    AuthKind.API_KEY: "ApiKey",
    AuthKind.BASIC: "Basic",
    AuthKind.OAUTH: "OAuth2",
    AuthKind.NONE: "None",
    AuthKind.UNKNOWN: "Mystery",
}


# -- helpers ------------------------------------------------------------------------------


def connector(
    cid: int = 7, name: str = "Salesforce", kind: AuthKind = AuthKind.OAUTH, **kw: Any
) -> Connector:
    kw.setdefault("version", "2.1")
    kw.setdefault("description", "Sync accounts and leads. Also more.")
    return Connector(id=cid, name=name, auth_type=AUTH_TYPES[kind], **kw)


def record(**kw: Any) -> InstallRecord:
    base: dict[str, Any] = dict(
        id=42,
        submission_key="V1",
        team_id="T1",
        user_id="U0AAA",
        channel_id="C1",
        account_id="acc-1",
        connector_id=7,
        connector_name="Salesforce",
        connector_version="2.1",
        auth_kind=AuthKind.OAUTH,
        name="Salesforce EU",
        state=InstallState.INSTALLED,
        reason=None,
        account_connector_id=99,
        created_at=NOW,
        updated_at=NOW,
    )
    base.update(kw)
    return InstallRecord(**base)


def installed(
    aid: int = 99,
    *,
    kind: AuthKind = AuthKind.OAUTH,
    authenticated: bool = False,
    name: str = "Salesforce EU",
) -> AccountConnector:
    return AccountConnector(id=aid, name=name, authenticated=authenticated, connector=connector(kind=kind))


def check_message(msg: Message) -> Message:
    """Slack (our stand-in's rules) and slack_sdk's models both accept it."""
    assert isinstance(msg, Message)
    assert validate_message(msg.as_kwargs()) == []
    for block in Block.parse_all(msg.blocks):
        block.validate_json()
    assert msg.text and len(msg.text) <= 3000
    assert len(json.dumps(msg.blocks, ensure_ascii=False)) < 40_000
    assert_no_mentions(msg.text, msg.blocks)
    return msg


def check_view(view: dict[str, Any]) -> dict[str, Any]:
    assert validate_view(view) == []
    assert not view_too_large(view)
    View(**view).validate_json()
    assert_no_mentions("", view["blocks"])
    return view


def texts(obj: Any) -> Iterator[str]:
    """Every mrkdwn/plain text string in a payload."""
    if isinstance(obj, dict):
        if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
            yield obj["text"]
        for value in obj.values():
            yield from texts(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from texts(value)


def mrkdwn_texts(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        if obj.get("type") == "mrkdwn":
            yield obj["text"]
        for value in obj.values():
            yield from mrkdwn_texts(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from mrkdwn_texts(value)


_SPECIAL = re.compile(r"<([^>]*)>")


def assert_no_mentions(text: str, blocks: Any) -> None:
    """The only ``<…>`` sequences are dates and mentions of the known user ids."""
    for chunk in [text, *mrkdwn_texts(blocks)]:
        for inner in _SPECIAL.findall(chunk):
            assert inner.startswith("!date^") or re.fullmatch(r"@U0[A-Z]{3}", inner), chunk


def all_blocks_of(payload: Message | dict[str, Any]) -> list[dict[str, Any]]:
    return payload.blocks if isinstance(payload, Message) else payload["blocks"]


def has_banner(payload: Message | dict[str, Any]) -> bool:
    return any(SANDBOX_NOTE in t for t in texts(all_blocks_of(payload)))


def elements(payload: Message | dict[str, Any]) -> list[dict[str, Any]]:
    """Interactive elements: accessories, actions elements and input elements."""
    out: list[dict[str, Any]] = []
    for block in all_blocks_of(payload):
        if "accessory" in block:
            out.append(block["accessory"])
        if block["type"] == "actions":
            out.extend(block["elements"])
        if block["type"] == "input":
            out.append(block["element"])
    return out


def by_action(payload: Message | dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements(payload) if e.get("action_id") == action_id]


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if "block_id" in b]


def alltext(payload: Message | dict[str, Any]) -> str:
    return "\n".join(texts(all_blocks_of(payload)))


# -- text helpers ---------------------------------------------------------------------------


def test_escape_turns_mrkdwn_controls_into_entities() -> None:
    assert kit.escape("<!channel> & co") == "&lt;!channel&gt; &amp; co"


def test_clip_adds_an_ellipsis_only_when_cut() -> None:
    assert kit.clip("short", 10) == "short"
    cut = kit.clip("abcdefghijkl", 5)
    assert cut == "abcd…" and len(cut) == 5


def test_clip_counts_emoji_as_two_units() -> None:
    cut = kit.clip("🚀" * 10, 5)
    assert cut == "🚀🚀…"


def test_escape_clip_never_leaves_half_an_entity() -> None:
    assert kit.escape_clip("ab<<<<", 6) == "ab…"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab &<>;🚀é\n"), max_size=80), st.integers(min_value=1, max_value=40))
def test_escape_clip_stays_within_limit_and_well_formed(text: str, limit: int) -> None:
    out = kit.escape_clip(text, limit)
    assert len(out.encode("utf-16-le")) // 2 <= limit
    assert "<" not in out and ">" not in out
    # every & starts a whole entity
    assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", out)
    if out.endswith("…") and not text.endswith("…"):
        body = out[:-1].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert text.startswith(body)


def test_slack_date_has_a_utc_fallback() -> None:
    assert (
        kit.slack_date(NOW, "{time}", with_date=False) == f"<!date^{int(NOW.timestamp())}^{{time}}|09:30 UTC>"
    )
    naive = kit.slack_date(datetime(2024, 5, 17, 9, 30))
    assert naive.endswith("|2024-05-17 09:30 UTC>")


def test_button_values_pack_and_unpack() -> None:
    value = ids.encode_value({"a": "acc-1", "ac": 99})
    assert value == '{"a":"acc-1","ac":99}'
    assert ids.decode_value(value) == {"a": "acc-1", "ac": 99}
    assert ids.decode_value("not json") == {} and ids.decode_value('"x"') == {}


def test_property_id_refuses_ids_over_255() -> None:
    assert ids.property_id("Region") == "prop:Region"
    assert ids.property_id("x" * 251) is None
    assert ids.property_id("") is None


# -- help, notices, errors --------------------------------------------------------------------


def test_help_card_lists_every_subcommand_with_an_example() -> None:
    entries = [
        ("search", "search <words>", "Find connectors.", "search hubspot"),
        ("list", "/cyclr list", "What is installed.", "/cyclr list"),
    ]
    msg = check_message(kit.help_card(entries=entries))
    body = alltext(msg)
    assert "`/cyclr search &lt;words&gt;`" in body and "`/cyclr search hubspot`" in body
    assert "`/cyclr list`" in body
    assert "search" in msg.text and "list" in msg.text


def test_help_card_defaults_to_the_parser_entries() -> None:
    from bot.slack import parsing

    msg = check_message(kit.help_card())
    body = alltext(msg)
    entries = kit.help_entries()
    assert tuple(entries) == tuple(parsing.HELP_ENTRIES)
    for sub, *_ in entries:
        assert sub in body


def test_help_card_shows_the_problem_first_escaped() -> None:
    msg = check_message(kit.help_card(problem="I don't know `<!here>`. Did you mean `install`?"))
    first = msg.blocks[0]["text"]["text"]
    assert "I don't know `&lt;!here&gt;`" in first
    assert "Did you mean `install`" in msg.text


def test_notice_and_error_escape_and_carry_the_reference() -> None:
    notice = check_message(kit.notice_message(f"Bound to *{EVIL}*"))
    assert "*&lt;!channel&gt; &amp; co" in notice.blocks[0]["text"]["text"]
    err = check_message(kit.error_message("Cyclr is down <b>", ref="abc123"))
    assert "Something went wrong" in err.text and "abc123" in err.text
    assert "`abc123`" in alltext(err)
    assert "&lt;b&gt;" in alltext(err)


# -- search results ---------------------------------------------------------------------------


def test_search_results_have_install_buttons_whose_values_parse_back() -> None:
    found = [connector(1, "Salesforce"), connector(2, "HubSpot", AuthKind.API_KEY, version=None)]
    msg = check_message(kit.search_results("sales", found, account_id="acc-1", account_name="Acme"))
    buttons = by_action(msg, ids.SEARCH_INSTALL)
    assert [ids.decode_value(b["value"]) for b in buttons] == [{"a": "acc-1", "c": 1}, {"a": "acc-1", "c": 2}]
    body = alltext(msg)
    assert "*Salesforce* · v2.1 · OAuth (sign-in link)" in body
    assert "*HubSpot* · API key" in body
    assert "Sync accounts and leads." in body and "Also more" not in body


def test_search_results_cap_at_ten_and_count_the_rest() -> None:
    found = [connector(i, f"C{i}") for i in range(30)]
    msg = check_message(kit.search_results("c", found, account_id="a", account_name="A", total_matches=120))
    assert len(by_action(msg, ids.SEARCH_INSTALL)) == 10
    assert "the best 10 of 120" in alltext(msg)


def test_search_results_worst_case_names_and_descriptions() -> None:
    found = [connector(i, EVIL + LONG, description=HUGE, version="9" * 300) for i in range(12)]
    msg = check_message(kit.search_results(EVIL, found, account_id="a", account_name=LONG))
    for block in msg.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 600
    assert "&lt;b&gt;" not in alltext(msg)  # HTML stripped from the description
    assert "contacts &amp; deals &gt; fast &lt; slow." in alltext(msg)


def test_search_without_matches_suggests_other_words() -> None:
    msg = check_message(kit.search_results("zzz", [], account_id="a", account_name="Acme"))
    assert "No connectors" in msg.text and "*zzz*" in msg.text
    assert "`/cyclr search`" in alltext(msg)
    assert by_action(msg, ids.SEARCH_INSTALL) == []


def test_draft_connectors_have_no_install_button() -> None:
    msg = check_message(
        kit.search_results("x", [connector(status="Draft")], account_id="a", account_name="A")
    )
    assert by_action(msg, ids.SEARCH_INSTALL) == []
    assert "Not installable" in alltext(msg)


# -- options --------------------------------------------------------------------------------


def test_connector_option_text_and_value() -> None:
    opt = kit.connector_option(connector(7, "Salesforce"))
    assert opt == {
        "text": {"type": "plain_text", "text": "Salesforce v2.1 · OAuth (sign-in link)", "emoji": True},
        "value": "7",
    }


def test_connector_option_keeps_the_suffix_for_long_names() -> None:
    opt = kit.connector_option(connector(7, "N" * 300, AuthKind.API_KEY))
    text = opt["text"]["text"]
    assert len(text) <= 75 and text.endswith("… v2.1 · API key")


def test_connector_options_cap_at_100_unique() -> None:
    many = [connector(i % 500, f"{LONG}{i}") for i in range(1000)]
    opts = kit.connector_options(many)
    assert len(opts) == 100 and len({o["value"] for o in opts}) == 100
    assert validate_options_response({"options": opts}) == []


def test_account_options_skip_ids_that_cannot_be_values() -> None:
    accounts = [Account(id=f"id-{i}", name=LONG) for i in range(150)] + [
        Account(id="x" * 151, name="Too long")
    ]
    opts = kit.account_options([accounts[-1], *accounts])
    assert len(opts) == 100 and opts[0]["value"] == "id-0"
    assert opts[0]["description"]["text"] == "id-0"
    assert validate_options_response({"options": opts}) == []
    with pytest.raises(ValueError):
        kit.account_option(accounts[-1])


def test_options_placeholder_is_one_none_option() -> None:
    opts = kit.options_placeholder("Still loading the catalogue… type again " + "x" * 100)
    assert len(opts) == 1 and opts[0]["value"] == ids.NO_OPTION
    assert validate_options_response({"options": opts}) == []


# -- install modal ----------------------------------------------------------------------------


AUTH_INPUTS = {ids.API_KEY, ids.USERNAME, ids.PASSWORD}


@pytest.mark.parametrize(
    ("kind", "expected", "note"),
    [
        (AuthKind.API_KEY, {ids.API_KEY}, None),
        (AuthKind.BASIC, {ids.USERNAME, ids.PASSWORD}, None),
        (AuthKind.OAUTH, set(), "You will get a sign-in link by direct message after the install."),
        (AuthKind.NONE, set(), "This connector needs no authentication."),
        (AuthKind.UNKNOWN, set(), "Finish authentication in Cyclr after the install"),
    ],
)
def test_install_modal_auth_fields_follow_the_auth_kind(
    kind: AuthKind, expected: set[str], note: str | None
) -> None:
    view = check_view(kit.install_modal(metadata='{"c":"C1"}', connector=connector(kind=kind)))
    present = set(block_ids(view))
    assert present & AUTH_INPUTS == expected
    for ident in expected:
        assert by_action(view, ident)[0]["type"] == "plain_text_input"
    if note:
        assert note in alltext(view)


def test_install_modal_fixed_ids_and_shape() -> None:
    view = check_view(kit.install_modal(metadata="m" * 3000, connector=connector(), sandbox=False))
    assert view["type"] == "modal" and view["callback_id"] == "cyclr_install"
    assert view["title"]["text"] == "Install a connector" and len(view["title"]["text"]) <= 24
    assert view["submit"]["text"] == "Install" and view["close"]["text"] == "Cancel"
    assert view["private_metadata"] == "m" * 3000
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    for block_id, block in inputs.items():
        assert block["element"]["action_id"] == block_id
    pick = inputs[ids.CONNECTOR]
    assert pick["dispatch_action"] is True
    assert pick["element"]["type"] == "external_select" and pick["element"]["min_query_length"] in (0, 1)
    assert pick["element"]["initial_option"]["value"] == "7"
    assert inputs[ids.NAME]["element"]["initial_value"] == "Salesforce"
    assert inputs[ids.DESCRIPTION]["optional"] is True
    assert inputs[ids.DESCRIPTION]["element"]["multiline"] is True
    assert ids.ACCOUNT not in inputs


def test_install_modal_refuses_metadata_over_3000() -> None:
    with pytest.raises(ValueError, match="private_metadata"):
        kit.install_modal(metadata="m" * 3001)


def test_install_modal_without_connector_has_only_the_basics() -> None:
    view = check_view(kit.install_modal(metadata="x", notice="Loading the catalogue…"))
    assert set(block_ids(view)) >= {ids.CONNECTOR, ids.NAME, ids.DESCRIPTION, "notice"}
    assert not set(block_ids(view)) & AUTH_INPUTS
    assert "initial_option" not in by_action(view, ids.CONNECTOR)[0]
    assert "initial_value" not in by_action(view, ids.NAME)[0]
    assert view["blocks"][0]["elements"][0]["text"] == "Loading the catalogue…"


def test_install_modal_account_picker_only_when_asked() -> None:
    acme = Account(id="acc-2", name="Acme")
    shown = check_view(kit.install_modal(metadata="x", account=acme, show_account=True, name="Mine"))
    picker = by_action(shown, ids.ACCOUNT)[0]
    assert picker["type"] == "external_select" and picker["initial_option"]["value"] == "acc-2"
    assert by_action(shown, ids.NAME)[0]["initial_value"] == "Mine"
    hidden = check_view(kit.install_modal(metadata="x", account=acme))
    assert by_action(hidden, ids.ACCOUNT) == []
    assert "Account: *Acme*" in alltext(hidden)


def test_install_modal_required_properties() -> None:
    props = (
        ConnectorProperty(
            target_name="Region",
            name="Region",
            description="Data centre",
            is_optional=False,
            values=("eu", "us"),
        ),
        ConnectorProperty(target_name="Token", name="Token", is_optional=False, is_sensitive=True),
        ConnectorProperty(target_name="Opt", name="Optional one", is_optional=True),
        ConnectorProperty(
            target_name="Many", name="Many", is_optional=False, values=tuple(map(str, range(150)))
        ),
    )
    view = check_view(kit.install_modal(metadata="x", connector=connector(properties=props)))
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    region = inputs["prop:Region"]
    assert region["label"]["text"] == "Region" and region["hint"]["text"] == "Data centre"
    assert region["element"]["type"] == "static_select" and region["element"]["action_id"] == "prop:Region"
    assert [o["value"] for o in region["element"]["options"]] == ["eu", "us"]
    token = inputs["prop:Token"]
    assert token["element"]["type"] == "plain_text_input" and "Cyclr only" in token["hint"]["text"]
    assert "prop:Opt" not in inputs
    assert inputs["prop:Many"]["element"]["type"] == "plain_text_input"  # > 100 values


def test_install_modal_worst_case_stays_within_limits() -> None:
    props = tuple(
        ConnectorProperty(
            target_name=f"P{i}",
            name=LONG,
            description=HUGE,
            is_optional=False,
            is_sensitive=i % 2 == 0,
            values=(LONG[:150], "b" * 150) if i % 3 == 0 else (),
        )
        for i in range(200)
    ) + (ConnectorProperty(target_name="T" * 300, name="Unaddressable", is_optional=False),)
    big = connector(name=EVIL + LONG, kind=AuthKind.BASIC, properties=props, version="v" * 300)
    view = check_view(
        kit.install_modal(
            metadata="x" * 3000,
            connector=big,
            show_account=True,
            account=Account(id="a", name=LONG),
            notice=EVIL * 100,
            sandbox=True,
        )
    )
    assert len(view["blocks"]) == 100
    assert "Set these required properties in Cyclr" in view["blocks"][-1]["elements"][0]["text"]
    assert by_action(view, ids.PASSWORD)


def test_install_modal_dedupes_property_ids() -> None:
    props = (
        ConnectorProperty(target_name="A", name="A", is_optional=False),
        ConnectorProperty(target_name="A", name="A again", is_optional=False),
    )
    view = check_view(kit.install_modal(metadata="x", connector=connector(properties=props)))
    assert block_ids(view).count("prop:A") == 1
    assert "A again" in alltext(view)


def test_install_modal_uses_the_first_auth_method() -> None:
    multi = Connector(
        id=3,
        name="Multi",
        auth_type="OAuth2",
        authentications=(AuthMethod(id="1", name="Key", auth_type="ApiKey"),),
    )
    view = check_view(kit.install_modal(metadata="x", connector=multi))
    assert by_action(view, ids.API_KEY)


def test_progress_view_has_no_submit() -> None:
    view = check_view(kit.install_progress_view(connector_name=EVIL, account_name="Acme"))
    assert "submit" not in view and view["close"]["text"] == "Close"
    assert "Installing *&lt;!channel&gt; &amp; co" in alltext(view)


def test_outcome_view_success_tells_what_next() -> None:
    view = check_view(kit.install_outcome_view(record(), account_name="Acme"))
    body = alltext(view)
    assert view["title"]["text"] == "Connector installed" and "submit" not in view
    assert "*Salesforce* v2.1" in body and "*Acme*" in body and "check your DMs" in body
    done = check_view(
        kit.install_outcome_view(
            record(state=InstallState.AUTHENTICATED, auth_kind=AuthKind.API_KEY), account_name="Acme"
        )
    )
    assert "ready" in alltext(done)


def test_outcome_view_failure_gives_the_reason_and_what_to_do() -> None:
    failed = record(state=InstallState.FAILED, reason="Name already in use <x>", account_connector_id=None)
    view = check_view(
        kit.install_outcome_view(failed, account_name="Acme", duplicate_name=True, detail="ref 1")
    )
    body = alltext(view)
    assert view["title"]["text"] == "Install failed"
    assert "Name already in use &lt;x&gt;" in body and "Choose another name" in body and "ref 1" in body
    other = check_view(kit.install_outcome_view(failed, account_name="Acme"))
    assert "Choose another name" not in alltext(other) and "install-42" in alltext(other)


# -- DMs and sign-in links ---------------------------------------------------------------------


def test_install_dm_for_oauth_has_an_authorise_button() -> None:
    msg = check_message(kit.install_dm(record(), account_name="Acme"))
    button = by_action(msg, ids.AUTHORISE)[0]
    assert ids.decode_value(button["value"]) == {"a": "acc-1", "ac": 99}
    assert button["text"]["text"] == "Authorise Salesforce"
    assert "5 minutes" in alltext(msg)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"state": InstallState.AUTHENTICATED, "auth_kind": AuthKind.API_KEY}, "authenticated and ready"),
        ({"state": InstallState.AUTHENTICATED}, "authorised and ready"),
        ({"auth_kind": AuthKind.NONE}, "no authentication needed"),
        ({"auth_kind": AuthKind.UNKNOWN}, "Finish its authentication in Cyclr"),
        ({"state": InstallState.FAILED, "reason": "Bad key"}, "Bad key"),
        ({"state": InstallState.PENDING}, "Installing"),
        ({"account_connector_id": None}, "/cyclr list"),
    ],
)
def test_install_dm_other_states_have_no_authorise_button(changes: dict[str, Any], words: str) -> None:
    msg = check_message(kit.install_dm(record(**changes), account_name="Acme"))
    assert by_action(msg, ids.AUTHORISE) == []
    assert words in alltext(msg)


SIGNIN = "https://acme-h.cyclr.com/connectorauth/signin?token=SECRET-TOKEN-123"


def test_authorise_link_message_keeps_the_url_in_the_button_only() -> None:
    expires = NOW + timedelta(minutes=5)
    msg = check_message(
        kit.authorise_link_message(
            connector_name="Salesforce",
            account_name="Acme",
            url=SIGNIN,
            expires_at=expires,
            new_link_value="ref-1",
        )
    )
    opener = by_action(msg, ids.OPEN_LINK)[0]
    assert opener["url"] == SIGNIN and opener["text"]["text"] == "Open Cyclr sign-in"
    assert by_action(msg, ids.NEW_LINK)[0]["value"] == "ref-1"
    assert json.dumps(msg.blocks).count("SECRET-TOKEN") == 1
    assert "SECRET" not in msg.text
    assert f"<!date^{int(expires.timestamp())}^{{time}}|09:35 UTC>" in alltext(msg)


def test_link_buttons_refuse_oversized_urls_without_quoting_them() -> None:
    with pytest.raises(ValueError) as err:
        kit.authorise_link_message(
            connector_name="S", account_name="A", url=SIGNIN + "x" * 3000, expires_at=NOW, new_link_value="r"
        )
    assert "SECRET" not in str(err.value)


def test_authorise_page_link_message_shows_the_page_expiry() -> None:
    expires = NOW + timedelta(hours=24)
    msg = check_message(
        kit.authorise_page_link_message(
            connector_name=EVIL,
            account_name="Acme",
            page_url="https://bot.example/authorise/abc",
            link_id=42,
            expires_at=expires,
            new_link_value='{"r":"abc"}',
        )
    )
    assert by_action(msg, ids.OPEN_LINK)[0]["url"] == "https://bot.example/authorise/abc"
    # The click names the link (not the ref), so that the owner's click can arm the page.
    assert ids.decode_value(by_action(msg, ids.OPEN_LINK)[0]["value"]) == {"l": 42}
    assert "abc" not in by_action(msg, ids.OPEN_LINK)[0]["value"]
    assert "2024-05-18 09:30 UTC" in alltext(msg)
    assert "bot.example" not in msg.text


def test_authorised_and_expired_messages() -> None:
    done = check_message(kit.authorised_message(connector_name="Salesforce", account_name="Acme"))
    assert "✅" in done.text or ":white_check_mark:" in done.text
    assert "*Salesforce* is authorised in *Acme*" in done.text
    assert elements(done) == []
    expired = check_message(
        kit.link_expired_message(connector_name="Salesforce", account_name="Acme", new_link_value="ref-2")
    )
    assert by_action(expired, ids.NEW_LINK)[0]["value"] == "ref-2"
    assert by_action(expired, ids.NEW_LINK)[0]["text"]["text"] == "Get a new link"


# -- team notification and history --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({"state": InstallState.PENDING}, ":hourglass_flowing_sand: installing…"),
        ({}, ":key: waiting for authorisation"),
        ({"state": InstallState.AUTHENTICATED}, ":white_check_mark: authorised"),
        (
            {"state": InstallState.AUTHENTICATED, "auth_kind": AuthKind.API_KEY},
            ":white_check_mark: authenticated",
        ),
        ({"state": InstallState.FAILED, "reason": "Bad <key>"}, ":x: failed: Bad &lt;key&gt;"),
        (
            {"state": InstallState.UNINSTALLED, "uninstalled_by": "U0BBB"},
            ":wastebasket: uninstalled by <@U0BBB>",
        ),
    ],
)
def test_team_notification_states(changes: dict[str, Any], label: str) -> None:
    msg = check_message(kit.team_notification(record(**changes), account_name="Acme"))
    body = alltext(msg)
    assert label in body and label in msg.text
    assert (
        "<@U0AAA>" in body and "*Salesforce* v2.1" in body and "*Acme*" in body and "*Salesforce EU*" in body
    )


def test_team_notification_never_turns_text_into_mentions() -> None:
    evil = record(
        user_id="<!channel>",
        connector_name=EVIL,
        name=EVIL,
        connector_version=EVIL,
        state=InstallState.UNINSTALLED,
        uninstalled_by="<!here>",
    )
    msg = check_message(kit.team_notification(evil, account_name=EVIL))
    assert "&lt;!channel&gt;" in msg.text and "&lt;!here&gt;" in alltext(msg)


def test_history_lists_when_who_what_and_outcome() -> None:
    rows = [record(id=1), record(id=2, state=InstallState.FAILED, reason="Nope", account_id="acc-2")]
    msg = check_message(kit.history_message(rows, account_names={"acc-1": "Acme"}))
    body = alltext(msg)
    assert "<!date^" in body and "<@U0AAA>" in body and "*Acme*" in body and "*acc-2*" in body
    assert ":x: failed: Nope" in body


def test_history_of_200_rows_fits_one_message() -> None:
    rows = [
        record(id=i, connector_name=LONG, reason=HUGE, state=InstallState.FAILED, user_id="U0AAA")
        for i in range(200)
    ]
    msg = check_message(kit.history_message(rows, account_names={"acc-1": LONG}, sandbox=True))
    assert sum(len(t) for t in texts(msg.blocks)) <= 12_000
    more = msg.blocks[-1]["elements"][0]["text"]
    shown = int(re.search(r"and (\d+) more", more).group(1))  # type: ignore[union-attr]
    assert 150 <= shown < 200


def test_history_empty() -> None:
    msg = check_message(kit.history_message([]))
    assert "No installs yet" in msg.text


# -- installed list and uninstall -----------------------------------------------------------------


def test_installed_list_marks_state_and_offers_authorise_for_oauth_only() -> None:
    items = [installed(1), installed(2, authenticated=True), installed(3, kind=AuthKind.API_KEY)]
    msg = check_message(kit.installed_list(items, account_id="acc-1", account_name="Acme"))
    buttons = by_action(msg, ids.AUTHORISE)
    assert [ids.decode_value(b["value"]) for b in buttons] == [{"a": "acc-1", "ac": 1}]
    body = alltext(msg)
    assert body.count(":white_check_mark: authenticated") == 1 and body.count(":warning:") == 2
    assert "Salesforce v2.1" in body


def test_installed_list_caps_at_50_blocks() -> None:
    items = [installed(i, name=EVIL + LONG) for i in range(1000)]
    msg = check_message(kit.installed_list(items, account_id="a", account_name=LONG, sandbox=True))
    assert len(msg.blocks) <= 50
    assert "and 960 more" in alltext(msg)
    assert sum(len(t) for t in texts(msg.blocks)) <= 12_000


def test_installed_list_empty() -> None:
    msg = check_message(kit.installed_list([], account_id="a", account_name="Acme"))
    assert "No connectors are installed in *Acme* yet. Try `/cyclr install`." in msg.text


def test_uninstall_confirm_has_a_danger_button_with_a_dialog() -> None:
    msg = check_message(
        kit.uninstall_confirm_message(installed(5, name=EVIL + LONG), account_id="acc-1", account_name="Acme")
    )
    button = by_action(msg, ids.UNINSTALL)[0]
    assert button["style"] == "danger"
    assert ids.decode_value(button["value"]) == {"a": "acc-1", "ac": 5}
    confirm = button["confirm"]
    assert confirm["confirm"]["text"] == "Uninstall" and confirm["deny"]["text"] == "Cancel"
    assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300


# -- accounts ------------------------------------------------------------------------------------


def test_accounts_message_marks_the_channel_account_and_filters() -> None:
    accounts = [Account(id="a1", name="Acme Ltd"), Account(id="b2", name="Beta Corp")]
    msg = check_message(kit.accounts_message(accounts, current_account_id="b2"))
    body = alltext(msg)
    assert "*Acme Ltd*  `a1`" in body and "*Beta Corp*  `b2`  ← this channel" in body
    only = check_message(kit.accounts_message(accounts, current_account_id=None, query="acme"))
    assert "Beta" not in alltext(only) and "Acme" in alltext(only)
    none = check_message(kit.accounts_message(accounts, current_account_id=None, query="zzz"))
    assert "No Cyclr accounts match *zzz*" in none.text


def test_accounts_message_caps_many_accounts() -> None:
    accounts = [Account(id=f"id-{i}", name=EVIL + LONG) for i in range(500)]
    msg = check_message(kit.accounts_message(accounts, current_account_id="id-3", sandbox=True))
    assert "and 460 more" in alltext(msg)
    assert sum(len(t) for t in texts(msg.blocks)) <= 12_000


@pytest.mark.parametrize("bound", [True, False])
def test_channel_account_message(bound: bool) -> None:
    msg = check_message(
        kit.channel_account_message(account=Account(id="a1", name="Acme"), account_id="a1", bound=bound)
    )
    assert "*Acme* (`a1`)" in msg.text
    assert ("not bound" in msg.text) is not bound
    unknown = check_message(kit.channel_account_message(account=None, account_id="zz", bound=bound))
    assert "`zz`" in unknown.text and "could not find" in alltext(unknown)


# -- App Home ------------------------------------------------------------------------------------


def test_app_home_has_the_account_install_button_and_recent_installs() -> None:
    view = check_view(
        kit.app_home(
            default_account_name="Acme",
            default_account_id="acc-1",
            recent=[record(), record(id=2, state=InstallState.FAILED, reason="x")],
            account_names={"acc-1": "Acme"},
        )
    )
    assert view["type"] == "home"
    assert by_action(view, ids.HOME_INSTALL)[0]["text"]["text"] == "Install a connector"
    body = alltext(view)
    assert "Default account: *Acme*" in body and ":x: failed: x" in body and "/cyclr install" in body


def test_app_home_without_install_rights_and_with_many_rows() -> None:
    rows = [record(id=i, connector_name=EVIL + LONG) for i in range(200)]
    view = check_view(
        kit.app_home(
            default_account_name=LONG,
            default_account_id="acc-1",
            recent=rows,
            can_install=False,
            sandbox=True,
        )
    )
    assert by_action(view, ids.HOME_INSTALL) == []
    assert "and 185 more" in alltext(view)


# -- across every builder --------------------------------------------------------------------------


def _builders() -> list[tuple[str, Callable[[bool], Message | dict[str, Any]]]]:
    rec = record()
    return [
        ("help", lambda s: kit.help_card(sandbox=s)),
        (
            "search",
            lambda s: kit.search_results("q", [connector()], account_id="a", account_name="A", sandbox=s),
        ),
        ("search-empty", lambda s: kit.search_results("q", [], account_id="a", account_name="A", sandbox=s)),
        ("modal", lambda s: kit.install_modal(metadata="x", connector=connector(), sandbox=s)),
        ("progress", lambda s: kit.install_progress_view(connector_name="C", account_name="A", sandbox=s)),
        ("outcome", lambda s: kit.install_outcome_view(rec, account_name="A", sandbox=s)),
        ("dm", lambda s: kit.install_dm(rec, account_name="A", sandbox=s)),
        (
            "link",
            lambda s: kit.authorise_link_message(
                connector_name="C",
                account_name="A",
                url=SIGNIN,
                expires_at=NOW,
                new_link_value="r",
                sandbox=s,
            ),
        ),
        (
            "page",
            lambda s: kit.authorise_page_link_message(
                connector_name="C",
                account_name="A",
                page_url="https://x.example/p",
                link_id=1,
                expires_at=NOW,
                new_link_value="r",
                sandbox=s,
            ),
        ),
        ("authorised", lambda s: kit.authorised_message(connector_name="C", account_name="A", sandbox=s)),
        (
            "expired",
            lambda s: kit.link_expired_message(
                connector_name="C", account_name="A", new_link_value="r", sandbox=s
            ),
        ),
        ("team", lambda s: kit.team_notification(rec, account_name="A", sandbox=s)),
        ("list", lambda s: kit.installed_list([installed()], account_id="a", account_name="A", sandbox=s)),
        ("list-empty", lambda s: kit.installed_list([], account_id="a", account_name="A", sandbox=s)),
        (
            "uninstall",
            lambda s: kit.uninstall_confirm_message(installed(), account_id="a", account_name="A", sandbox=s),
        ),
        ("history", lambda s: kit.history_message([rec], sandbox=s)),
        (
            "accounts",
            lambda s: kit.accounts_message([Account(id="a", name="A")], current_account_id="a", sandbox=s),
        ),
        (
            "channel",
            lambda s: kit.channel_account_message(account=None, account_id="a", bound=True, sandbox=s),
        ),
        (
            "home",
            lambda s: kit.app_home(default_account_name="A", default_account_id="a", recent=[rec], sandbox=s),
        ),
        ("error", lambda s: kit.error_message("boom", ref="r1", sandbox=s)),
        ("notice", lambda s: kit.notice_message("ok", sandbox=s)),
    ]


@pytest.mark.parametrize(("name", "build"), _builders(), ids=[n for n, _ in _builders()])
@pytest.mark.parametrize("sandbox", [True, False])
def test_sandbox_banner_iff_sandbox(
    name: str, build: Callable[[bool], Message | dict[str, Any]], sandbox: bool
) -> None:
    built = build(sandbox)
    if isinstance(built, Message):
        check_message(built)
        assert built.text.startswith("[sandbox] ") is sandbox
    else:
        check_view(built)
    assert has_banner(built) is sandbox
    if sandbox:
        assert all_blocks_of(built)[0]["block_id"] == "sandbox_banner"


def test_message_is_frozen() -> None:
    msg = kit.notice_message("hi")
    with pytest.raises(AttributeError):
        msg.text = "changed"  # type: ignore[misc]
    assert replace(msg, text="x").text == "x"
