"""The rendered Asterisk configuration, parsed back and cross-checked (no Asterisk, no Docker).

Each file is parsed with an Asterisk-config parser; then the options each trunk mode needs are
checked, the files are checked against each other (dial template -> endpoint, AMI users ->
dispatcher settings, ports -> compose.yaml), and unsafe values are refused before rendering.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from dispatcher.asterisk import cli, confparse
from dispatcher.asterisk.cdr_table import grant_sql, schema_sql
from dispatcher.asterisk.remote import REMOTE_GROUP, remote_config
from dispatcher.asterisk.render import CONSUMER_EVENTS, RENDERED_FILES, TRUNK_MODULES, render
from dispatcher.asterisk.settings import load, load_remote
from dispatcher.asterisk.values import ConfError, pattern_regex
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.domain.numbers import NumberPolicy

ROOT = Path(__file__).resolve().parents[2]
WORKER_SECRET = "a1b2c3d4e5f6a7b8c9d0e1f2"
EVENTS_SECRET = "f0e1d2c3b4a5968778695a4b"
TRUNK_PASSWORD = "trunkPass-2024x"
CARRIER = "203.0.113.10"
PUBLIC = "198.51.100.7"
CALLER_ID = "+982191001000"
DEFAULT_PATTERNS = ("_09XXXXXXXXX", "_0[1-8]XXXXXXXXX")
# The rendered files by name, each parsed back.
ConfFiles = dict[str, confparse.ConfFile]


def make_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "DISPATCHER_AMI_SECRET": WORKER_SECRET,
        "DISPATCHER_AMI_EVENTS_USERNAME": "dispatcher-events",
        "DISPATCHER_AMI_EVENTS_SECRET": EVENTS_SECRET,
        "DATABASE_URL": "postgresql+psycopg2://dispatcher:dbpass-1234@db.example.net:5432/calls",
        "CARRIER_HOST": CARRIER,
        "SIP_EXTERNAL_ADDRESS": PUBLIC,
        "TRUNK_USERNAME": "disp01",
        "TRUNK_PASSWORD": TRUNK_PASSWORD,
        "AMI_BIND": "0.0.0.0",
        "AMI_PERMIT": "172.28.0.0/24",
        "DISPATCHER_DEFAULT_CALLER_ID": CALLER_ID,
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def rendered(mode: str, **overrides: str | None) -> ConfFiles:
    files = render(load(make_env(**overrides), mode))
    return {name: confparse.parse(text) for name, text in files.items()}


@pytest.fixture(scope="module", params=["peer", "register"])
def conf(request: pytest.FixtureRequest) -> ConfFiles:
    return rendered(request.param)


@pytest.fixture(scope="module")
def peer() -> ConfFiles:
    return rendered("peer")


@pytest.fixture(scope="module")
def register() -> ConfFiles:
    return rendered("register")


def _dialplan(conf: ConfFiles) -> list[confparse.Extension]:
    return confparse.extensions(conf["extensions.conf"])


# --- every file, both modes -------------------------------------------------------------------

def test_every_file_is_rendered_and_parses(conf: ConfFiles) -> None:
    assert set(RENDERED_FILES) | {"cdr_pgsql.conf"} == set(conf)
    for name, parsed in conf.items():
        # acl.conf only exists (no named ACLs), so the core does not log an ERROR without it.
        assert parsed.sections or name == "acl.conf", name


def test_transports_udp_and_tcp_with_nat(conf: ConfFiles) -> None:
    pjsip = conf["pjsip.conf"]
    for proto in ("udp", "tcp"):
        transport = pjsip.typed(f"transport-{proto}", "transport")
        assert transport.get("protocol") == proto
        assert transport.get("bind") == "0.0.0.0:5060"
        assert transport.get("external_media_address") == PUBLIC
        assert transport.get("external_signaling_address") == PUBLIC
        assert "172.16.0.0/12" in transport.getall("local_net")


def test_trunk_endpoint_codecs_qualify_and_dead_end_context(conf: ConfFiles) -> None:
    pjsip = conf["pjsip.conf"]
    endpoint = pjsip.typed("carrier-trunk", "endpoint")
    allow = endpoint.get("allow", "")
    assert allow is not None and allow.split(",")[0] == "alaw"
    assert endpoint.get("disallow") == "all"
    assert endpoint.get("context") == "from-carrier"
    assert endpoint.get("identify_by") == "ip"
    assert endpoint.get("direct_media") == "no"
    aor = pjsip.typed("carrier-trunk", "aor")
    assert aor.get("contact") == f"sip:{CARRIER}:5060"
    assert aor.get("qualify_frequency") == "10"
    identify = pjsip.typed("carrier-trunk", "identify")
    assert identify.get("endpoint") == "carrier-trunk"
    assert identify.getall("match") == [CARRIER]
    assert pjsip.section("global").get("endpoint_identifier_order") == "ip"


def test_no_anonymous_endpoint_and_no_other_endpoint(conf: ConfFiles) -> None:
    pjsip = conf["pjsip.conf"]
    assert not pjsip.named("anonymous")
    assert [s.name for s in pjsip.of_type("endpoint")] == ["carrier-trunk"]
    modules = conf["modules.conf"].section("modules")
    noload = modules.getall("noload")
    assert "res_pjsip_endpoint_identifier_anonymous.so" in noload
    assert "res_pjsip_endpoint_identifier_user.so" in noload
    assert {"app_system.so", "func_shell.so"} <= set(noload)
    assert "res_pjsip_endpoint_identifier_ip.so" in modules.getall("require")


def test_calls_from_the_trunk_can_never_dial_out(conf: ConfFiles) -> None:
    dead_end = [e for e in _dialplan(conf) if e.context == "from-carrier"]
    assert dead_end and {e.app for e in dead_end} == {"Hangup"}
    assert not conf["extensions.conf"].section("from-carrier").getall("include")


@pytest.mark.parametrize(("value", "bind"), [
    (None, "0.0.0.0:5060"), ("127.0.0.1", "127.0.0.1:5060"), ("::1", "[::1]:5060"),
    ("::", "[::]:5060"),
])
def test_sip_bind_is_both_transports_address(value: str | None, bind: str) -> None:
    conf = rendered("register", SIP_BIND=value)
    for proto in ("udp", "tcp"):
        assert conf["pjsip.conf"].typed(f"transport-{proto}", "transport").get("bind") == bind
    # AMI and RTP keep their own settings: SIP_BIND moves SIP only.
    default = rendered("register")
    for name, section in (("manager.conf", "general"), ("rtp.conf", "general")):
        assert conf[name].section(section).options == default[name].section(section).options
    assert conf["manager.conf"].section("general").get("bindaddr") == "0.0.0.0"


@pytest.mark.parametrize("value", ["localhost", "127.0.0.1:5060", "10.0.0.0/8", "1.2.3.4.5",
                                   "[::1]", "0.0.0.0 ; x"])
def test_sip_bind_must_be_an_ip_address(value: str) -> None:
    with pytest.raises(ConfError, match="SIP_BIND"):
        load(make_env(SIP_BIND=value), "peer")


# What the trunk and the dialplan need in both modes (tests/e2e/test_real_asterisk.py checks on a
# real Asterisk that they boot with no ERROR and run).
NEEDED_MODULES = {
    "res_pjsip.so", "chan_pjsip.so", "res_pjsip_session.so", "res_pjsip_pubsub.so",
    "res_pjproject.so", "res_sorcery_config.so", "res_sorcery_memory.so", "res_sorcery_astdb.so",
    "res_pjsip_endpoint_identifier_ip.so", "res_pjsip_authenticator_digest.so",
    "res_pjsip_sdp_rtp.so", "res_pjsip_nat.so", "res_pjsip_caller_id.so",
    "res_pjsip_rfc3326.so", "res_pjsip_logger.so", "res_rtp_asterisk.so",
    "res_timing_timerfd.so", "bridge_simple.so", "bridge_native_rtp.so", "pbx_config.so",
    "app_dial.so", "app_playback.so", "app_stack.so", "codec_alaw.so", "codec_ulaw.so",
    "codec_a_mu.so", "codec_gsm.so", "format_sln.so", "format_wav.so", "format_gsm.so",
    "format_pcm.so", "cdr_manager.so", "res_security_log.so",
}
# Never loaded: risky (a shell, in-call DTMF transfers, unidentified endpoints) or unused
# services that would listen or log errors without a configuration.
NEVER_LOADED = {
    "app_system.so", "func_shell.so", "bridge_builtin_features.so",
    "res_pjsip_endpoint_identifier_anonymous.so", "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_registrar.so", "res_pjsip_refer.so", "chan_iax2.so", "res_ari.so",
    "res_http_websocket.so", "res_musiconhold.so", "app_queue.so", "res_parking.so",
    "res_config_pgsql.so", "res_hep.so", "res_prometheus.so",
}


def _loaded(conf: ConfFiles) -> set[str]:
    modules = conf["modules.conf"].section("modules")
    return set(modules.getall("load")) | set(modules.getall("require"))


def test_modules_are_listed_not_autoloaded(conf: ConfFiles) -> None:
    modules = conf["modules.conf"].section("modules")
    assert modules.get("autoload") == "no"
    loaded, noload = _loaded(conf), set(modules.getall("noload"))
    assert NEEDED_MODULES <= loaded
    assert not loaded & NEVER_LOADED
    assert not loaded & noload
    assert all(re.fullmatch(r"[a-z0-9_]+\.so", name) for name in loaded | noload)
    assert conf["modules.conf"].directives == [("tryinclude", "custom/modules_custom.conf")]


def test_only_register_mode_loads_registration_and_outbound_auth(
        peer: ConfFiles, register: ConfFiles) -> None:
    assert set(TRUNK_MODULES["register"]) <= _loaded(register)
    assert not set(TRUNK_MODULES["register"]) & _loaded(peer)


def test_trunk_codecs_bring_their_translators() -> None:
    loaded = _loaded(rendered("peer", TRUNK_CODECS="ulaw,g722"))
    assert {"codec_ulaw.so", "codec_g722.so", "codec_resample.so", "codec_gsm.so"} <= loaded
    assert not {"codec_alaw.so", "codec_a_mu.so"} & loaded


# Where each application and function of the rendered dialplan comes from (None: the core).
# A new one in the template fails here until modules.conf loads its module.
DIALPLAN_MODULES = {
    "Answer": None, "Hangup": None, "Set": None, "GotoIf": None, "Goto": None,
    "Gosub": "app_stack.so", "Return": "app_stack.so", "Dial": "app_dial.so",
    "Playback": "app_playback.so", "GROUP": "func_groupcount.so",
    "GROUP_COUNT": "func_groupcount.so", "CDR": "func_cdr.so", "CHANNEL": "func_channel.so",
    "MASTER_CHANNEL": "func_channel.so", "GLOBAL": "func_global.so", "FILTER": "func_strings.so",
    "LEN": "func_strings.so", "DIALPLAN_EXISTS": "func_dialplan.so",
    "CALLERID": "func_callerid.so",
}


def test_every_dialplan_application_and_function_is_loaded(conf: ConfFiles) -> None:
    used = set()
    for step in _dialplan(conf):
        used.add(step.app)
        used.update(re.findall(r"(?<![A-Za-z0-9_])([A-Z][A-Z_]*)\(", step.data))
    assert used - DIALPLAN_MODULES.keys() == set()
    assert {DIALPLAN_MODULES[name] for name in used} - {None} <= _loaded(conf)


def test_core_start_up_files_are_rendered(conf: ConfFiles) -> None:
    featuremap = conf["features.conf"].section("featuremap")
    assert featuremap.options and all(value == "" for _, value in featuremap.options)
    country = conf["indications.conf"].section("general").get("country")
    assert country is not None
    assert conf["indications.conf"].section(country).get("congestion")
    assert conf["pjproject.conf"].section("startup").get("type") == "startup"
    assert conf["udptl.conf"].section("general").get("udptlstart")
    assert conf["ccss.conf"].section("general")
    assert conf["acl.conf"].sections == []


# --- the two modes ----------------------------------------------------------------------------

def test_peer_mode_identifies_by_ip_and_never_registers(peer: ConfFiles) -> None:
    pjsip = peer["pjsip.conf"]
    assert list(pjsip.of_type("registration")) == []
    assert list(pjsip.of_type("auth")) == []
    endpoint = pjsip.typed("carrier-trunk", "endpoint")
    assert endpoint.get("outbound_auth") is None and endpoint.get("auth") is None
    assert pjsip.typed("carrier-trunk", "identify").get("match") == CARRIER


def test_register_mode_registers_and_authenticates(register: ConfFiles) -> None:
    pjsip = register["pjsip.conf"]
    [auth] = list(pjsip.of_type("auth"))
    assert (auth.get("username"), auth.get("password")) == ("disp01", TRUNK_PASSWORD)
    [reg] = list(pjsip.of_type("registration"))
    assert reg.get("outbound_auth") == auth.name
    assert reg.get("server_uri") == f"sip:{CARRIER}:5060"
    assert reg.get("client_uri") == f"sip:disp01@{CARRIER}:5060"
    assert reg.get("endpoint") == "carrier-trunk" and reg.get("line") == "yes"
    endpoint = pjsip.typed("carrier-trunk", "endpoint")
    assert endpoint.get("outbound_auth") == auth.name
    assert endpoint.get("from_user") == "disp01"


def test_register_mode_works_without_public_address() -> None:
    conf = rendered("register", SIP_EXTERNAL_ADDRESS=None)
    transport = conf["pjsip.conf"].typed("transport-udp", "transport")
    assert transport.get("external_media_address") is None


# --- AMI --------------------------------------------------------------------------------------

def _perms(value: str | None) -> set[str]:
    return {p.strip() for p in (value or "").split(",") if p.strip()}


def test_manager_users_are_least_privilege(conf: ConfFiles) -> None:
    manager = conf["manager.conf"]
    general = manager.section("general")
    assert general.get("timestampevents") == "yes"
    assert general.get("port") == "5038" and general.get("webenabled") == "no"
    worker = manager.section("dispatcher")
    assert _perms(worker.get("read")) == set()
    assert _perms(worker.get("write")) == {"originate", "call"}
    events = manager.section("dispatcher-events")
    assert _perms(events.get("read")) == {"call", "system", "cdr", "dialplan"}
    assert _perms(events.get("write")) == {"reporting"}
    dangerous = {"system", "command", "config", "all", "agi"}
    for user in (worker, events):
        assert not _perms(user.get("write")) & dangerous
        assert user.getall("deny") == ["0.0.0.0/0.0.0.0"]
        assert user.getall("permit") == ["172.28.0.0/255.255.255.0"]


def test_consumer_event_filters(conf: ConfFiles) -> None:
    events = conf["manager.conf"].section("dispatcher-events")
    filters = {k: val for k, val in events.options if k.startswith("eventfilter")}
    names = {m.group(1) for k in filters
             if (m := re.search(r"name\(([A-Za-z]+)\)", k)) and "action(include)" in k}
    assert names == set(CONSUMER_EVENTS) | {"VarSet"}
    [(varset_key, regex)] = [(k, val) for k, val in filters.items() if "VarSet" in k]
    assert "header(Variable)" in varset_key and "method(regex)" in varset_key
    assert re.search(regex, "CALL_ID") and re.search(regex, "__CALL_ID")
    assert not re.search(regex, "CALL_IDX") and not re.search(regex, "BRIDGEPEER")


def test_ami_users_and_port_match_the_dispatchers_settings(conf: ConfFiles) -> None:
    settings = Settings(ami_events_username="dispatcher-events", ami_secret=WORKER_SECRET,
                        ami_events_secret=EVENTS_SECRET)
    manager = conf["manager.conf"]
    assert manager.section(settings.worker_ami.username).get("secret") == WORKER_SECRET
    assert manager.section(settings.events_ami.username).get("secret") == EVENTS_SECRET
    assert manager.section("general").get("port") == str(settings.ami_port)


# --- dialplan ---------------------------------------------------------------------------------

def test_answered_context_matches_dispatcher_defaults(conf: ConfFiles) -> None:
    settings = Settings()
    first = [e for e in _dialplan(conf) if e.context == settings.originate_context
             and e.exten == settings.originate_exten and e.priority == str(
                 settings.originate_priority)]
    assert len(first) == 1
    apps = [e.app for e in _dialplan(conf) if e.context == settings.originate_context]
    assert "Playback" in apps and apps[-1] == "Hangup"
    assert conf["extensions.conf"].section("globals").get("ANSWER_SOUND") == "hello-world"
    assert ("tryinclude", "custom/extensions_custom.conf") in conf["extensions.conf"].directives


def test_default_dial_template_reaches_the_rendered_endpoint(conf: ConfFiles) -> None:
    endpoint = Settings().dial_template.rpartition("@")[2]
    assert conf["pjsip.conf"].typed(endpoint, "endpoint")


def test_local_dial_template_goes_through_the_outbound_context() -> None:
    template = "Local/{national}@dispatcher-outbound"
    conf = rendered("peer", DISPATCHER_DIAL_TEMPLATE=template)
    context = template.rpartition("@")[2]
    assert conf["extensions.conf"].section(context)
    trunk = [e for e in _dialplan(conf) if e.context == "dispatcher-trunk"]
    apps = [e.app for e in trunk]
    assert apps.index("Set") < apps.index("Dial")
    assert trunk[0].data == "__CALL_ID=${CALL_ID}"
    dial = next(e for e in trunk if e.app == "Dial")
    found = re.search(r"@([A-Za-z0-9_\-]+),", dial.data)
    assert found is not None, dial.data
    endpoint = found.group(1)
    assert conf["pjsip.conf"].typed(endpoint, "endpoint")
    assert "S(${GLOBAL(MAX_CALL_SECONDS)})" in dial.data


def test_hangup_cause_reaches_the_cdr_column_reconciliation_reads(conf: ConfFiles) -> None:
    settings = Settings()
    plan = _dialplan(conf)
    answered = [e for e in plan if e.context == settings.originate_context]
    assert answered[0].data == "CHANNEL(hangup_handler_push)=dispatcher-hangup,s,1"
    handler = [e for e in plan if e.context == "dispatcher-hangup"]
    assert handler[0].data == "CDR(hangupcause)=${HANGUPCAUSE}" and handler[-1].app == "Return"
    trunk = [e for e in plan if e.context == "dispatcher-trunk"]
    after_dial = trunk[[e.app for e in trunk].index("Dial") + 1]
    assert after_dial.data == "MASTER_CHANNEL(CDR(hangupcause))=${HANGUPCAUSE}"
    column = re.search(r"^\s*hangupcause\s+integer", schema_sql(), flags=re.M)
    assert column, "the cdr table has no hangupcause column"


def test_line_cap_equals_trunk_lines() -> None:
    conf = rendered("peer", DISPATCHER_TRUNK_LINES="12")
    assert conf["extensions.conf"].section("globals").get("TRUNK_LINES") == "12"
    checks = [e.data for e in _dialplan(conf) if e.app == "GotoIf" and "GROUP_COUNT" in e.data]
    assert checks and "${GLOBAL(TRUNK_LINES)}" in checks[0]


def test_allow_list_patterns_compile_and_admit_only_national_numbers(conf: ConfFiles) -> None:
    outbound = [e for e in _dialplan(conf) if e.context == "dispatcher-outbound"]
    patterns = [pattern_regex(e.exten) for e in outbound if e.priority == "1"]
    assert patterns
    policy = NumberPolicy()
    for number in ("+989121231001", "+982188776655"):
        national = policy.parse(number).national
        assert any(p.match(national) for p in patterns), national
    for refused in ("00441234567890", "+989121231001", "9121231001", "0912123100", "118"):
        assert not any(p.match(refused) for p in patterns), refused


def test_allow_list_is_configurable_and_strict() -> None:
    conf = rendered("peer", ASTERISK_DIAL_PATTERNS="_0912XXXXXXX")
    outbound = {e.exten for e in _dialplan(conf) if e.context == "dispatcher-outbound"}
    assert outbound == {"_0912XXXXXXX"}
    for loose in ("_X.", "_09!", "_0.", "0912", "_09XX,_X."):
        with pytest.raises(ConfError, match="ASTERISK_DIAL_PATTERNS"):
            load(make_env(ASTERISK_DIAL_PATTERNS=loose), "peer")


def test_dialplan_reads_every_global_through_GLOBAL(conf: ConfFiles) -> None:
    names = conf["extensions.conf"].section("globals").keys()
    assert {"TRUNK_LINES", "MAX_CALL_SECONDS", "ANSWER_SOUND", "DEFAULT_CALLER_ID"} <= names
    used = "\n".join(f"{step.app}({step.data})" for step in _dialplan(conf))
    for name in names:
        # ${NAME} (or ${NAME:offset}) would read a channel variable of that name first.
        assert not re.search(r"\$\{_*" + name + r"[}:]", used), name
        assert f"${{GLOBAL({name})}}" in used, name


def test_trunk_leg_ignores_what_the_call_brought_along(conf: ConfFiles) -> None:
    trunk = [e for e in _dialplan(conf) if e.context == "dispatcher-trunk"]
    dial = next(i for i, e in enumerate(trunk) if e.app == "Dial")
    cleared = {e.data[:-1] for e in trunk[:dial] if e.app == "Set" and e.data.endswith("=")}
    assert {"OUTBOUND_GROUP", "OUTBOUND_GROUP_ONCE", "FORWARD_CONTEXT", "TRANSFER_CONTEXT",
            "BRIDGE_FEATURES"} <= cleared
    options = trunk[dial].data.rsplit(",", 1)[1]
    assert re.fullmatch(r"[a-zA-Z]*i[a-zA-Z]*S\(\$\{GLOBAL\(MAX_CALL_SECONDS\)\}\)", options)


def test_default_caller_id_fills_an_empty_caller_number(conf: ConfFiles) -> None:
    assert conf["extensions.conf"].section("globals").get("DEFAULT_CALLER_ID") == CALLER_ID
    trunk = [e for e in _dialplan(conf) if e.context == "dispatcher-trunk"]
    apps = [e.app for e in trunk]
    check = next(i for i, e in enumerate(trunk) if "CALLERID(num)" in e.data and
                 e.app == "GotoIf")
    assert trunk[check].data == "$[${LEN(${CALLERID(num)})} > 0]?dial"
    assert trunk[check + 1].data == "CALLERID(num)=${GLOBAL(DEFAULT_CALLER_ID)}"
    assert trunk[check + 2].label == "dial" and trunk[check + 2].app == "Dial"
    assert apps.index("GotoIf") < check  # the line cap first: a refused call needs no caller ID


def test_render_refuses_anonymous_calls_unless_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfError) as refused:
        load(make_env(DISPATCHER_DEFAULT_CALLER_ID=None), "peer")
    message = str(refused.value)
    assert message.startswith("missing required setting DISPATCHER_DEFAULT_CALLER_ID")
    assert "DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID" in message and "\n" not in message
    for no in ("no", "false"):
        with pytest.raises(ConfError, match="DISPATCHER_DEFAULT_CALLER_ID"):
            load(make_env(DISPATCHER_DEFAULT_CALLER_ID=None,
                          DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID=no), "peer")
    with pytest.raises(ConfError, match="DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID"):
        load(make_env(DISPATCHER_DEFAULT_CALLER_ID=None,
                      DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID="maybe"), "peer")
    env = make_env(DISPATCHER_DEFAULT_CALLER_ID=None)
    out = tmp_path / "etc"
    assert cli.main(["render", "--mode", "peer", "--out", str(out)], env=env) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: missing required setting DISPATCHER_DEFAULT_CALLER_ID")
    assert not out.exists()
    allowed = rendered("peer", DISPATCHER_DEFAULT_CALLER_ID=None,
                       DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID="yes")
    assert allowed["extensions.conf"].section("globals").get("DEFAULT_CALLER_ID") == ""


@pytest.mark.parametrize("value", ["1", "1234567890123456", "+98-21-1234", "Anonymous",
                                   '"Sales" <1234>', "++98211"])
def test_default_caller_id_is_a_plain_number(value: str) -> None:
    with pytest.raises(ConfError, match="DISPATCHER_DEFAULT_CALLER_ID"):
        load(make_env(DISPATCHER_DEFAULT_CALLER_ID=value), "peer")


# --- CDR, logging, media ----------------------------------------------------------------------

def test_cdr_settings_for_reconciliation(conf: ConfFiles) -> None:
    cdr = conf["cdr.conf"].section("general")
    assert (cdr.get("unanswered"), cdr.get("congestion"), cdr.get("batch")) == ("yes", "yes", "no")
    assert conf["cdr_manager.conf"].section("general").get("enabled") == "yes"
    assert conf["cel.conf"].section("general").get("enable") == "no"
    pgsql = conf["cdr_pgsql.conf"].section("global")
    assert (pgsql.get("hostname"), pgsql.get("dbname"), pgsql.get("table")) == (
        "db.example.net", "calls", "cdr")
    assert pgsql.get("password") == "dbpass-1234" and pgsql.get("timezone") == "UTC"
    assert "load" in conf["modules.conf"].section("modules").keys()
    assert "cdr_pgsql.so" in conf["modules.conf"].section("modules").getall("load")
    sql = schema_sql()
    assert "CREATE TABLE IF NOT EXISTS cdr" in sql and '"end"' in sql and "answer" in sql


def test_cdr_pgsql_can_be_turned_off() -> None:
    conf = rendered("peer", ASTERISK_CDR_PGSQL="no", DATABASE_URL=None)
    assert "cdr_pgsql.conf" not in conf
    assert "cdr_pgsql.so" in conf["modules.conf"].section("modules").getall("noload")


def test_cdr_grant_is_quoted_and_checked() -> None:
    assert grant_sql("asterisk_cdr").startswith('GRANT INSERT ON cdr TO "asterisk_cdr";')
    with pytest.raises(ValueError):
        grant_sql('x"; DROP TABLE cdr; --')


def test_security_log_for_fail2ban(conf: ConfFiles) -> None:
    logfiles = conf["logger.conf"].section("logfiles")
    assert logfiles.get("security.log") == "security"
    assert "res_security_log.so" in conf["modules.conf"].section("modules").getall("require")


def test_rtp_range_and_size_check(conf: ConfFiles) -> None:
    rtp = conf["rtp.conf"].section("general")
    assert (rtp.get("rtpstart"), rtp.get("rtpend")) == ("10000", "10199")
    with pytest.raises(ConfError, match="RTP"):
        load(make_env(RTP_START="10000", RTP_END="10019"), "peer")


# --- refusing bad input -----------------------------------------------------------------------

INJECTIONS = ["x\n[anonymous]\ntype=endpoint", "x\r\nwrite=all", "abc;comment", "[evil]",
              "a]b", "ok\x00"]
FIELDS = ["CARRIER_HOST", "CARRIER_MATCH", "TRUNK_USERNAME", "TRUNK_PASSWORD",
          "DISPATCHER_AMI_SECRET", "DISPATCHER_AMI_EVENTS_SECRET", "DISPATCHER_AMI_USERNAME",
          "SIP_EXTERNAL_ADDRESS", "SIP_LOCAL_NETS", "TRUNK_CODECS", "ASTERISK_ANSWER_SOUND",
          "ASTERISK_DIAL_PATTERNS", "AMI_PERMIT", "DISPATCHER_ORIGINATE_CONTEXT",
          "DISPATCHER_DIAL_TEMPLATE", "ASTERISK_CDR_DATABASE_URL", "SIP_BIND",
          "DISPATCHER_DEFAULT_CALLER_ID"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_attempts_are_refused(field: str, payload: str) -> None:
    with pytest.raises(ConfError):
        load(make_env(**{field: payload}), "register")


def test_refusal_names_the_variable() -> None:
    with pytest.raises(ConfError, match="TRUNK_PASSWORD"):
        load(make_env(TRUNK_PASSWORD="abc;defghijk"), "register")


@pytest.mark.parametrize(("mode", "missing"), [
    ("peer", "DISPATCHER_AMI_SECRET"), ("peer", "DISPATCHER_AMI_EVENTS_SECRET"),
    ("peer", "DISPATCHER_AMI_EVENTS_USERNAME"), ("peer", "CARRIER_HOST"),
    ("peer", "SIP_EXTERNAL_ADDRESS"), ("register", "TRUNK_PASSWORD"),
    ("register", "TRUNK_USERNAME"), ("peer", "DATABASE_URL"),
])
def test_missing_required_setting_is_a_clear_error(mode: str, missing: str) -> None:
    with pytest.raises(ConfError, match=f"missing required setting {missing}|{missing}"):
        load(make_env(**{missing: None}), mode)


@pytest.mark.parametrize(("field", "value"), [
    ("DISPATCHER_DIAL_TEMPLATE", "PJSIP/{national}@anonymous"),
    ("DISPATCHER_ORIGINATE_CONTEXT", "from-carrier"),
    ("DISPATCHER_ORIGINATE_CONTEXT", "dispatcher-outbound"),
])
def test_reserved_section_names_are_refused(field: str, value: str) -> None:
    with pytest.raises(ConfError, match="reserved"):
        load(make_env(**{field: value}), "peer")


def test_peer_mode_needs_no_trunk_password() -> None:
    assert load(make_env(TRUNK_PASSWORD=None, TRUNK_USERNAME=None), "peer").trunk_password == ""


def test_weak_or_equal_secrets_and_shared_users_are_refused() -> None:
    with pytest.raises(ConfError, match="too short"):
        load(make_env(DISPATCHER_AMI_SECRET="short1234"), "peer")
    with pytest.raises(ConfError, match="must differ"):
        load(make_env(DISPATCHER_AMI_EVENTS_USERNAME="dispatcher"), "peer")
    with pytest.raises(ConfError, match="trunk mode"):
        load(make_env(), "outbound")


def test_cli_render_writes_private_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    assert cli.main(["render", "--mode", "register", "--out", str(out)], env=make_env()) == 0
    assert (out / "pjsip.conf").read_text().count("type = registration") == 1
    assert stat.S_IMODE((out / "manager.conf").stat().st_mode) == 0o640
    assert "register" in capsys.readouterr().out


def test_cli_missing_secret_stops_before_writing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    env = make_env(TRUNK_PASSWORD=None)
    assert cli.main(["render", "--mode", "register", "--out", str(out)], env=env) == 2
    assert "error: missing required setting TRUNK_PASSWORD" in capsys.readouterr().err
    assert not out.exists()


# --- the carrier's side -----------------------------------------------------------------------

def test_remote_config_peer_prints_both_syntaxes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["remote-config", "--mode", "peer"], env=make_env()) == 0
    text = capsys.readouterr().out
    pjsip_part, sip_part = text.split("; ---- On the CARRIER's Asterisk (chan_sip")
    pjsip = confparse.parse(pjsip_part)
    assert pjsip.typed("call-dispatcher", "identify").get("match") == PUBLIC
    assert pjsip.typed("call-dispatcher", "aor").get("contact") == f"sip:{PUBLIC}:5060"
    assert pjsip.typed("call-dispatcher", "endpoint").get("allow") == "alaw,ulaw"
    sip = confparse.parse(sip_part.split("\n", 1)[1]).section("trunk-to-docker")
    assert (sip.get("type"), sip.get("host"), sip.get("port")) == ("peer", PUBLIC, "5060")
    assert sip.get("insecure") == "port,invite" and sip.getall("allow") == ["alaw", "ulaw"]


def test_remote_config_register_matches_our_credentials() -> None:
    ours = rendered("register")["pjsip.conf"]
    [auth] = list(ours.of_type("auth"))
    settings = load_remote(make_env(), "register")
    pjsip = confparse.parse(remote_config(settings, "pjsip"))
    theirs = pjsip.typed("disp01-auth", "auth")
    assert (theirs.get("username"), theirs.get("password")) == (
        auth.get("username"), auth.get("password"))
    assert pjsip.typed("disp01", "aor").get("max_contacts") == "1"
    sip = confparse.parse(remote_config(settings, "chan_sip")).section("disp01")
    assert (sip.get("type"), sip.get("host"), sip.get("secret")) == (
        "friend", "dynamic", TRUNK_PASSWORD)
    nat = sip.get("nat", "")
    assert nat is not None and "comedia" in nat


def test_remote_config_needs_no_ami_secrets() -> None:
    env = make_env(DISPATCHER_AMI_SECRET=None, DISPATCHER_AMI_EVENTS_SECRET=None)
    assert "trunk-to-docker" in remote_config(load_remote(env, "peer"), "chan_sip")


def test_remote_dial_patterns_equal_ours(peer: ConfFiles) -> None:
    ours = {e.exten for e in _dialplan(peer) if e.context == "dispatcher-outbound"}
    theirs = confparse.parse(remote_config(load_remote(make_env(), "peer"), "pjsip"))
    remote = {e.exten for e in confparse.extensions(theirs) if e.context == "from-dispatcher"}
    assert ours == remote


@pytest.mark.parametrize("mode", ["peer", "register"])
@pytest.mark.parametrize("syntax", ["pjsip", "chan_sip"])
def test_remote_dialplan_caps_our_calls_at_the_trunk_lines(mode: str, syntax: str) -> None:
    text = remote_config(load_remote(make_env(DISPATCHER_TRUNK_LINES="7"), mode), syntax)
    # tests/support/realpbx.py (and carriers' scripts) replace exactly this text: keep it.
    assert text.count("Dial(DAHDI/g0/${EXTEN},60)") == len(DEFAULT_PATTERNS)
    plan = [e for e in confparse.extensions(confparse.parse(text))
            if e.context == "from-dispatcher"]
    group, _, category = REMOTE_GROUP.partition("@")
    for pattern in DEFAULT_PATTERNS:
        steps = [e for e in plan if e.exten == pattern]
        assert [e.app for e in steps] == ["Set", "GotoIf", "Dial", "Hangup", "Hangup"]
        assert steps[0].data == f"GROUP({category})={group}"
        assert steps[1].data == f"$[${{GROUP_COUNT({REMOTE_GROUP})}} > 7]?full"
        assert steps[2].data == "DAHDI/g0/${EXTEN},60"
        assert (steps[4].label, steps[4].data) == ("full", "34")


# --- compose.yaml and .env.example ------------------------------------------------------------

def _compose() -> dict:
    import yaml  # declared in the test extra: a missing parser must fail, not skip

    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _defaults(text: str) -> str:
    """Compose interpolation with every variable at its default (``${X:-d}`` -> d)."""
    return re.sub(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", text)


def _env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))


def test_compose_services_ports_and_profiles() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"web", "worker", "events", "flower", "redis", "asterisk", "migrate",
            "asterisk-config"} <= set(services)
    default = {n: s for n, s in services.items() if not s.get("profiles")}
    assert not [n for n, s in default.items() if "postgres" in str(s.get("image", ""))]
    assert services["db"]["profiles"] == ["localdb"]
    ports = [_defaults(p) for p in services["asterisk"]["ports"]]
    assert {"5060:5060/udp", "5060:5060/tcp", "10000-10199:10000-10199/udp"} <= set(ports)
    assert not [p for s in services.values() for p in s.get("ports", []) if "5038" in str(p)]
    assert "ports" not in services["redis"]
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert "--basic-auth=" in " ".join(services["flower"]["command"])
    assert services["asterisk"]["build"]["context"] == "./asterisk-conf"


def test_compose_ports_agree_with_the_rendered_config(peer: ConfFiles) -> None:
    services = _compose()["services"]
    ports = " ".join(_defaults(p) for p in services["asterisk"]["ports"])
    rtp = peer["rtp.conf"].section("general")
    assert f"{rtp.get('rtpstart')}-{rtp.get('rtpend')}:" in ports
    bind = peer["pjsip.conf"].typed("transport-udp", "transport").get("bind")
    assert bind is not None
    sip_port = bind.rsplit(":")[1]
    assert f"{sip_port}:{sip_port}/udp" in ports
    env = services["web"]["environment"]
    assert env["DISPATCHER_AMI_PORT"] == peer["manager.conf"].section("general").get("port")


def test_compose_python_services_share_one_image_and_restart() -> None:
    services = _compose()["services"]
    python = ["web", "worker", "beat", "events", "flower", "migrate", "asterisk-config"]
    assert {services[n]["image"] for n in python} == {"call-dispatcher:latest"}
    for name, service in services.items():
        expected = "no" if name in ("migrate", "asterisk-config") else "unless-stopped"
        assert service["restart"] == expected, name
    for name in ("web", "worker", "flower", "redis", "asterisk", "db"):
        assert "healthcheck" in services[name], name
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "noeviction" in redis_cmd
    assert "--requirepass" in redis_cmd


def test_compose_has_no_hardcoded_secrets() -> None:
    compose = _compose()
    secretish = re.compile(r"SECRET|PASSWORD|AUTH|TOKEN|_KEY", re.I)
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if secretish.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:?[?-][^}]*\}", str(value)), (name, key)
    text = (ROOT / "compose.yaml").read_text()
    assert WORKER_SECRET not in text and "CHANGE_ME" not in text
    for required in ("DATABASE_URL", "REDIS_PASSWORD", "DISPATCHER_AMI_SECRET",
                     "DISPATCHER_AMI_EVENTS_SECRET", "FLOWER_BASIC_AUTH", "TRUNK_MODE"):
        assert re.search(r"\$\{" + required + r":\?", text), required


def test_env_example_documents_every_variable() -> None:
    documented = _env_example_names()
    text = "\n".join(line for line in (ROOT / "compose.yaml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    compose_vars = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert compose_vars - documented == set()
    source = (ROOT / "dispatcher" / "asterisk" / "settings.py").read_text()
    ours = set(re.findall(r'"((?:TRUNK|CARRIER|SIP|RTP|AMI|ASTERISK)_[A-Z_]+)"', source))
    assert ours and ours - documented == set()
    unknown = {n for n in documented if n.startswith("DISPATCHER_")} - {
        "DISPATCHER_" + f.upper() for f in Settings.__dataclass_fields__}
    assert unknown == set()


def test_parser_follows_asterisk_rules() -> None:
    text = ("[a]\nx = 1 ;-- a block\nstill comment --; y => 2\n"
            "[base](!)\nk = v\\;w\n[c](base)\nk = last\n#tryinclude extra.conf\n")
    conf = confparse.parse(text)
    assert conf.section("a").options == [("x", "1"), ("y", "2")]
    assert conf.section("c").getall("k") == ["v;w", "last"]
    assert not conf.named("base")
    assert conf.directives == [("tryinclude", "extra.conf")]
    for bad in ("x = 1\n", "[a]\njust words\n", "[a]\n#exec /bin/sh\n", "[a]\n;-- open\n"):
        with pytest.raises(confparse.ParseError):
            confparse.parse(bad)


def test_cdr_table_apply_creates_the_table_and_grants_insert(postgres: EmbeddedPostgres) -> None:
    from sqlalchemy import create_engine, text

    from dispatcher.asterisk.cdr_table import apply

    name = "asterisk_cdr_apply"
    postgres.create_database(name)
    postgres.server.psql("DROP ROLE IF EXISTS asterisk_cdr; "
                         "CREATE ROLE asterisk_cdr LOGIN PASSWORD 'cdrpass-1234';")
    owner_url = postgres.url_for(name)
    cdr_url = re.sub(r"//[^@]*@", "//asterisk_cdr:cdrpass-1234@", owner_url)
    env = {"DATABASE_URL": owner_url, "ASTERISK_CDR_DATABASE_URL": cdr_url}
    assert apply(env).splitlines() == [
        "cdr table is ready", "done: grant INSERT on cdr to asterisk_cdr",
        "done: set the time zone of asterisk_cdr to UTC"]
    assert apply(env).startswith("cdr table is ready")  # idempotent
    engine = create_engine(cdr_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO cdr (uniqueid, hangupcause) VALUES ('u1', 17)"))
        with pytest.raises(Exception, match="permission denied"), engine.begin() as conn:
            conn.execute(text("DELETE FROM cdr"))
    finally:
        engine.dispose()
    assert apply({**env, "ASTERISK_CDR_PGSQL": "no"}).startswith("ASTERISK_CDR_PGSQL=no")


def test_cdr_table_apply_keeps_the_grant_when_the_owner_cannot_alter_roles(
        postgres: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]) -> None:
    """A managed database's owner typically lacks CREATEROLE: ALTER ROLE fails, and the GRANT
    must survive it (they once shared a transaction and both were lost)."""
    from sqlalchemy import create_engine, text

    name = "asterisk_cdr_nocreaterole"
    for sql in (f'DROP DATABASE IF EXISTS "{name}";', "DROP ROLE IF EXISTS cdr_owner_plain;",
                "DROP ROLE IF EXISTS asterisk_cdr_plain;",
                "CREATE ROLE cdr_owner_plain LOGIN NOCREATEROLE NOSUPERUSER "
                "PASSWORD 'ownerpass-1234';",
                "CREATE ROLE asterisk_cdr_plain LOGIN PASSWORD 'cdrpass-1234';",
                f'CREATE DATABASE "{name}" OWNER cdr_owner_plain;'):
        postgres.server.psql(sql)
    url = postgres.url_for(name)
    owner_url = re.sub(r"//[^@]*@", "//cdr_owner_plain:ownerpass-1234@", url)
    cdr_url = re.sub(r"//[^@]*@", "//asterisk_cdr_plain:cdrpass-1234@", url)
    env = {"DATABASE_URL": owner_url, "ASTERISK_CDR_DATABASE_URL": cdr_url}
    assert cli.main(["cdr-table", "--apply"], env=env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["cdr table is ready", "done: grant INSERT on cdr to asterisk_cdr_plain"]
    assert lines[2].startswith("FAILED: set the time zone of asterisk_cdr_plain to UTC (")
    assert "permission denied" in lines[2]
    # Only what failed is left for an admin.
    assert lines[3:] == ["Run as an admin:",
                         """ALTER ROLE "asterisk_cdr_plain" SET timezone = 'UTC';"""]
    engine = create_engine(cdr_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO cdr (uniqueid, hangupcause) VALUES ('u2', 16)"))
    finally:
        engine.dispose()


def test_cdr_table_apply_turns_time_columns_of_an_older_table_into_exact_epochs(
        postgres: EmbeddedPostgres) -> None:
    """cdr_pgsql writes a float column to the microsecond and a time column to the second: a
    table made by an earlier version gets its answer and end converted, values kept."""
    from sqlalchemy import create_engine, text

    from dispatcher.asterisk.cdr_table import apply

    name = "asterisk_cdr_upgrade"
    postgres.create_database(name)
    url = postgres.url_for(name)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text('CREATE TABLE cdr (calldate timestamptz NOT NULL DEFAULT now(), '
                              'answer timestamptz, "end" timestamptz, duration bigint NOT NULL '
                              'DEFAULT 0, billsec bigint NOT NULL DEFAULT 0, disposition '
                              "varchar(45) NOT NULL DEFAULT '', uniqueid varchar(150) NOT NULL "
                              "DEFAULT '')"))
            conn.execute(text("INSERT INTO cdr (answer, \"end\", uniqueid) VALUES "
                              "('2026-12-06 10:00:01+00', '2026-12-06 10:00:05+00', 'u1')"))
        assert apply({"DATABASE_URL": url}).startswith("cdr table is ready")
        with engine.begin() as conn:
            types = dict(conn.execute(text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'cdr' AND column_name IN ('answer', 'end')")).all())
            answer, end = conn.execute(text('SELECT answer, "end" FROM cdr')).one()
        assert types == {"answer": "double precision", "end": "double precision"}
        assert end - answer == 4.0
    finally:
        engine.dispose()
