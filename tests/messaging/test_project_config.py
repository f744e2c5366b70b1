"""e-venement's config/project.yml, ``messaging`` section: what is accepted, what is refused."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import checks
from pytest_django.fixtures import Settings

from evim.messaging.checks import check_project_yml
from evim.messaging.project_config import (
    MessagingConfig,
    ProjectConfigError,
    get_messaging_config,
    load_messaging_config,
)
from tests.fixtures.processes import evim_environment, run_evim

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    get_messaging_config.cache_clear()
    yield
    get_messaging_config.cache_clear()


@pytest.fixture
def project_yml(tmp_path: Path) -> Path:
    return tmp_path / "config" / "project.yml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, text: str, environment: str = "prod") -> MessagingConfig:
    return load_messaging_config(write(path, text), environment=environment)


def errors(path: Path, text: str, environment: str = "prod") -> list[str]:
    with pytest.raises(ProjectConfigError) as raised:
        load(path, text, environment)
    lines = str(raised.value).splitlines()
    assert lines == list(raised.value.errors)
    return lines


def only_error(path: Path, text: str, environment: str = "prod") -> str:
    found = errors(path, text, environment)
    assert len(found) == 1, found
    return found[0]


# --- Accepted forms --------------------------------------------------------------------------


def test_documented_app_form(project_yml: Path) -> None:
    config = load(
        project_yml,
        "app:\n"
        "  messaging:\n"
        "    enable: true\n"
        "    chatrooms: [a@conference.x.tld, b@conference.y.tld]\n",
    )

    assert config == MessagingConfig(
        enabled=True,
        chatrooms=("a@conference.x.tld", "b@conference.y.tld"),
        source=project_yml,
        environment="prod",
        warnings=(),
    )


def test_all_form_with_block_list_and_e_venement_settings_ignored(project_yml: Path) -> None:
    config = load(
        project_yml,
        "all:\n"
        "  options:\n"
        "    design: tdp\n"
        "  messaging:\n"
        "    enable: true\n"
        "    chatrooms:\n"
        "      - hall@conference.localhost\n"
        "      - desk@conference.localhost\n"
        "  seated_plan: { enabled: 1 }\n"
        "payment: [whatever, 3]\n",
    )

    assert config.enabled is True
    assert config.chatrooms == ("hall@conference.localhost", "desk@conference.localhost")
    assert config.warnings == ()
    assert config.notices == ()


def test_example_file_is_valid_and_enables_rooms_on_the_managed_server() -> None:
    config = load_messaging_config(
        REPOSITORY / "config" / "project.yml.example", environment="prod"
    )

    assert config.enabled is True
    assert config.chatrooms
    assert all(room.endswith("@conference.localhost") for room in config.chatrooms)
    assert config.warnings == ()


ENVIRONMENTS = (
    "all:\n"
    "  messaging:\n"
    "    enable: true\n"
    "    chatrooms: [hall@conference.localhost]\n"
    "prod:\n"
    "  messaging:\n"
    "    chatrooms: [desk@conference.localhost, box@conference.localhost]\n"
    "dev:\n"
    "  messaging:\n"
    "    enable: false\n"
    "test:\n"
)


@pytest.mark.parametrize(
    ("environment", "enabled", "chatrooms"),
    [
        # prod overrides only the rooms: enable comes from all:
        ("prod", True, ("desk@conference.localhost", "box@conference.localhost")),
        # dev overrides only enable: the rooms come from all:
        ("dev", False, ("hall@conference.localhost",)),
        # an empty section, or none at all: all: applies as it is
        ("test", True, ("hall@conference.localhost",)),
        ("staging", True, ("hall@conference.localhost",)),
    ],
)
def test_environment_sections_override_all_key_by_key(
    project_yml: Path, environment: str, enabled: bool, chatrooms: tuple[str, ...]
) -> None:
    config = load(project_yml, ENVIRONMENTS, environment)

    assert (config.enabled, config.chatrooms, config.environment) == (
        enabled,
        chatrooms,
        environment,
    )


def test_environment_section_alone_without_all(project_yml: Path) -> None:
    text = "dev:\n  messaging:\n    enable: true\n"

    assert load(project_yml, text, "dev").enabled is True
    assert load(project_yml, text, "prod").enabled is False


@pytest.mark.parametrize("word", ["yes", "on", "True", "TRUE"])
def test_yaml_boolean_words_are_booleans(project_yml: Path, word: str) -> None:
    assert load(project_yml, f"all:\n  messaging:\n    enable: {word}\n").enabled is True


@pytest.mark.parametrize("word", ["no", "off", "false", "False"])
def test_yaml_false_words_disable(project_yml: Path, word: str) -> None:
    config = load(project_yml, f"all:\n  messaging:\n    enable: {word}\n")

    assert config.enabled is False
    assert config.notices == ()  # an explicit choice needs no explanation


@pytest.mark.parametrize("rooms", ["[]", "", "~"])
def test_empty_or_absent_room_list_means_no_rooms(project_yml: Path, rooms: str) -> None:
    config = load(project_yml, f"all:\n  messaging:\n    enable: true\n    chatrooms: {rooms}\n")

    assert config.enabled is True
    assert config.chatrooms == ()


def test_room_addresses_are_normalised(project_yml: Path) -> None:
    config = load(
        project_yml,
        "all:\n  messaging:\n    enable: true\n"
        "    chatrooms: [Accueil@Conference.Example.ORG, 'hall@conference.localhost.']\n",
    )

    assert config.chatrooms == ("accueil@conference.example.org", "hall@conference.localhost")


def test_anchors_and_merge_keys_work(project_yml: Path) -> None:
    text = (
        "all:\n"
        "  messaging: &common\n"
        "    enable: true\n"
        "    chatrooms: [hall@conference.localhost]\n"
        "prod:\n"
        "  messaging:\n"
        "    <<: *common\n"
        "    chatrooms: [desk@conference.localhost]\n"
    )

    assert load(project_yml, text).chatrooms == ("desk@conference.localhost",)
    assert load(project_yml, text, "dev").chatrooms == ("hall@conference.localhost",)


# --- Warnings --------------------------------------------------------------------------------


def test_duplicate_rooms_are_kept_once_with_a_warning(project_yml: Path) -> None:
    config = load(
        project_yml,
        "all:\n"
        "  messaging:\n"
        "    enable: true\n"
        "    chatrooms:\n"
        "      - hall@conference.localhost\n"
        "      - desk@conference.localhost\n"
        "      - HALL@Conference.Localhost\n",
    )

    assert config.chatrooms == ("hall@conference.localhost", "desk@conference.localhost")
    (warning,) = config.warnings
    assert warning.startswith(f"{project_yml}, line 7, column 9: all.messaging.chatrooms[2]: ")
    assert "hall@conference.localhost is already listed as chatrooms[0]" in warning
    assert "kept once" in warning


def test_unknown_keys_are_named_with_their_line_and_the_known_keys(project_yml: Path) -> None:
    config = load(
        project_yml,
        "all:\n  messaging:\n    enabled: true\n    chatrooms: []\n    colour: blue\n",
    )

    assert config.enabled is False  # "enabled" is not "enable"
    first, second = config.warnings
    assert first.startswith(f"{project_yml}, line 3, column 5: all.messaging.enabled: ")
    assert "unknown key 'enabled' ignored (did you mean enable?)" in first
    assert second.startswith(f"{project_yml}, line 5, column 5: all.messaging.colour: ")
    assert "unknown key 'colour'" in second
    assert all("the known keys are enable, chatrooms" in warning for warning in config.warnings)


# --- Disabled without an explicit choice -----------------------------------------------------


def test_missing_file_disables_messaging(project_yml: Path) -> None:
    config = load_messaging_config(project_yml, environment="prod")

    assert (config.enabled, config.chatrooms, config.source) == (False, (), None)
    assert config.warnings == ()
    (notice,) = config.notices
    assert str(project_yml) in notice
    assert "config/project.yml.example" in notice


@pytest.mark.parametrize(
    "text",
    ["", "# nothing yet\n", "all:\n  options: {}\n", "dev:\n  messaging: {enable: true}\n"],
)
def test_no_messaging_section_for_the_environment_disables(project_yml: Path, text: str) -> None:
    config = load(project_yml, text)

    assert config.enabled is False
    assert config.source == project_yml
    (notice,) = config.notices
    assert "has no messaging: section for environment 'prod'" in notice


@pytest.mark.parametrize("messaging", ["\n    chatrooms: [hall@conference.localhost]", ""])
def test_messaging_without_enable_disables(project_yml: Path, messaging: str) -> None:
    config = load(project_yml, f"all:\n  messaging:{messaging}\n")

    assert config.enabled is False
    (notice,) = config.notices
    assert "has no enable: key" in notice
    assert "enable: true" in notice


# --- Errors: types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ('"true"', "found the text 'true' in quotes. Remove the quotes."),
        ("'no'", "found the text 'no' in quotes. Remove the quotes."),
        ("oui", "found the text 'oui'."),
        ("1", "found the number 1."),
        ("[true]", "found a list of 1 item(s)."),
        ("{on: true}", "found a mapping"),
        ("", "found an empty value."),
        ("null", "found an empty value (null)."),
    ],
)
def test_enable_must_be_a_boolean(project_yml: Path, value: str, found: str) -> None:
    error = only_error(project_yml, f"all:\n  messaging:\n    enable: {value}\n")

    assert error.startswith(f"{project_yml}, line 3, column ")
    assert ": all.messaging.enable: expected true or false, written without quotes, " in error
    assert found in error


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("hall@conference.localhost", "found the text 'hall@conference.localhost'"),
        ("{hall: true}", "found a mapping"),
        ("3", "found the number 3"),
    ],
)
def test_chatrooms_must_be_a_list(project_yml: Path, value: str, found: str) -> None:
    error = only_error(project_yml, f"all:\n  messaging:\n    chatrooms: {value}\n")

    assert error.startswith(f"{project_yml}, line 3, column 16: all.messaging.chatrooms: ")
    assert "expected a list of room addresses" in error
    assert found in error


def test_a_single_room_as_text_is_refused_with_the_list_to_write(project_yml: Path) -> None:
    error = only_error(
        project_yml, "all:\n  messaging:\n    chatrooms: hall@conference.localhost\n"
    )

    assert "(for one room: [hall@conference.localhost])" in error


@pytest.mark.parametrize(
    ("room", "problem"),
    [
        ("no-at-sign", "there is no '@' and no room name"),
        ("room@", "the domain after '@' is missing"),
        ("'@conference.localhost'", "the room name before '@' is missing"),
        (
            "room@conference.localhost/resource",
            "a room address ends with its domain; remove the '/...' part (a resource)",
        ),
        ("a b@conference.localhost", "the room name holds characters an XMPP address cannot"),
        ("a@b@conference.localhost", "an address holds a single '@'"),
        ("room@-conference.localhost", "the domain is not a valid domain name"),
        ("room@conference..localhost", "the domain is not a valid domain name"),
        ("x" * 1024 + "@conference.localhost", "the room name is longer than 1023 bytes"),
    ],
)
def test_rooms_must_be_bare_room_addresses(project_yml: Path, room: str, problem: str) -> None:
    error = only_error(
        project_yml,
        "all:\n  messaging:\n    enable: true\n"
        f"    chatrooms:\n      - hall@x.tld\n      - {room}\n",
    )

    assert error.startswith(f"{project_yml}, line 6, column 9: all.messaging.chatrooms[1]: ")
    assert "expected a room address such as room@conference.example.org, found '" in error
    assert f": {problem}" in error
    assert "x" * 100 not in error  # a 1 KiB value is shortened


@pytest.mark.parametrize(("room", "found"), [("3", "the number 3"), ("[a@b.c]", "a list")])
def test_rooms_must_be_text(project_yml: Path, room: str, found: str) -> None:
    error = only_error(project_yml, f"all:\n  messaging:\n    chatrooms: [a@b.c, {room}]\n")

    assert error.startswith(f"{project_yml}, line 3, column 24: all.messaging.chatrooms[1]: ")
    assert f"expected a room address such as room@conference.example.org, found {found}" in error


def test_messaging_must_be_a_mapping(project_yml: Path) -> None:
    error = only_error(project_yml, "all:\n  messaging: true\n")

    assert error.startswith(f"{project_yml}, line 2, column 14: all.messaging: ")
    assert "expected a mapping with the keys enable and chatrooms, found the boolean true" in error


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("- all\n- prod\n", "line 1, column 1: (top level)", "a mapping of environments"),
        ("all: [messaging]\n", "line 1, column 6: all", "a mapping of settings"),
        ("prod: 3\n", "line 1, column 7: prod", "a mapping of settings"),
    ],
)
def test_sections_must_be_mappings(project_yml: Path, text: str, where: str, expected: str) -> None:
    error = only_error(project_yml, text)

    assert error.startswith(f"{project_yml}, {where}: expected {expected}")


def test_other_top_level_values_of_any_shape_are_ignored(project_yml: Path) -> None:
    config = load(project_yml, "dev: 3\nall:\n  messaging: {enable: true}\nvalues: [1, 2]\n")

    assert config.enabled is True


def test_app_and_all_together_are_refused(project_yml: Path) -> None:
    error = only_error(
        project_yml, "all:\n  messaging: {enable: true}\napp:\n  messaging: {enable: false}\n"
    )

    assert error.startswith(f"{project_yml}, line 3, column 1: app: ")
    assert "expected either all: or app:" in error
    assert "found both (all: at line 1)" in error


def test_duplicate_keys_are_refused(project_yml: Path) -> None:
    found = errors(
        project_yml,
        "all:\n  messaging:\n    enable: true\n    enable: false\n"
        "prod:\n  messaging: {}\n  messaging: {enable: false}\n",
    )

    assert found == [
        f"{project_yml}, line 4, column 5: all.messaging.enable: "
        "expected each key once, found it again (first at line 3).",
        f"{project_yml}, line 7, column 3: prod.messaging: "
        "expected each key once, found it again (first at line 6).",
    ]


# --- Errors: everything at once, in every environment ----------------------------------------


def test_every_error_is_reported_each_on_its_line(project_yml: Path) -> None:
    found = errors(
        project_yml,
        "all:\n"
        "  messaging:\n"
        "    enable: 'true'\n"
        "    chatrooms: [room@, hall@conference.localhost, a b@c]\n"
        "dev:\n"
        "  messaging:\n"
        "    enable: 1\n"
        "    chatrooms: desk@conference.localhost\n",
    )

    assert [line.split(": ")[0:2] for line in found] == [
        [f"{project_yml}, line 3, column 13", "all.messaging.enable"],
        [f"{project_yml}, line 4, column 17", "all.messaging.chatrooms[0]"],
        [f"{project_yml}, line 4, column 51", "all.messaging.chatrooms[2]"],
        [f"{project_yml}, line 7, column 13", "dev.messaging.enable"],
        [f"{project_yml}, line 8, column 16", "dev.messaging.chatrooms"],
    ]


def test_error_in_another_environment_stops_this_one_too(project_yml: Path) -> None:
    text = "all:\n  messaging: {enable: true}\ndev:\n  messaging:\n    enable: 'false'\n"

    error = only_error(project_yml, text, environment="prod")

    assert error.startswith(f"{project_yml}, line 5, column 13: dev.messaging.enable: expected")


# --- Errors: YAML syntax, tags, reading ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "explanation"),
    [
        (
            "all:\n  messaging:\n    enable: true\n    chatrooms: [a@b.c, d@e.f\nprod:\n  x: 1\n",
            "line 5, column 5",
            "the list opened with '[' at line 4, column 16 is not closed",
        ),
        (
            "all:\n  messaging:\n    chatrooms: [a@b.c\n",
            "line 4, column 1",
            "is not closed: expected ',' or ']', but got the end of the file",
        ),
        (
            "all:\n  messaging:\n\tenable: true\n",
            "line 3, column 1",
            "found a tab character; YAML indentation must be made of spaces, not tabs",
        ),
        (
            "all:\n  messaging:\n    enable: true\n   chatrooms: []\n",
            "line 4, column 4",
            "this line is not indented like the keys of the block starting at line 2, column 3",
        ),
        (
            "all:\n  messaging:\n    enable: true: false\n",
            "line 3, column 17",
            "unexpected ':' (a value containing ': ' must be put in quotes",
        ),
        (
            'all:\n  messaging:\n    chatrooms: ["a@b.c]\n',
            "line 4, column 1",
            "the quoted text starting at line 3, column 17 is not closed",
        ),
        (
            "all: {}\n---\nprod: {}\n",
            "line 2, column 1",
            "the file holds more than one YAML document ('---')",
        ),
    ],
)
def test_bad_yaml_is_located_and_explained(
    project_yml: Path, text: str, where: str, explanation: str
) -> None:
    error = only_error(project_yml, text)

    assert error.startswith(f"{project_yml}, {where}: not valid YAML: ")
    assert explanation in error


def test_text_that_is_not_utf8_is_refused(project_yml: Path) -> None:
    project_yml.parent.mkdir(parents=True)
    project_yml.write_bytes("all:\n  messaging: {enable: true} # équipe\n".encode("latin-1"))

    with pytest.raises(ProjectConfigError) as raised:
        load_messaging_config(project_yml, environment="prod")

    assert str(raised.value).startswith(f"{project_yml}: not readable as text (")
    assert "expected a YAML file saved as UTF-8" in str(raised.value)


def test_python_tags_are_refused_and_never_run(project_yml: Path, tmp_path: Path) -> None:
    witness = tmp_path / "ran"
    found = errors(
        project_yml,
        "all:\n"
        "  messaging:\n"
        f"    enable: !!python/object/apply:os.system ['touch {witness}']\n"
        "    chatrooms: [!!python/str a@b.c]\n"
        "prod:\n"
        "  messaging: !!python/object:collections.OrderedDict {}\n",
    )

    assert not witness.exists()
    assert [line.split(": ")[0:2] for line in found] == [
        [f"{project_yml}, line 3, column 13", "all.messaging.enable"],
        [f"{project_yml}, line 4, column 17", "all.messaging.chatrooms[0]"],
        [f"{project_yml}, line 6, column 14", "prod.messaging"],
    ]
    assert "found the tag !!python/object/apply:os.system " in found[0]
    assert all("expected a plain YAML value" in line for line in found)


def test_tags_outside_messaging_are_not_evims_business_and_never_run(
    project_yml: Path, tmp_path: Path
) -> None:
    witness = tmp_path / "ran"
    config = load(
        project_yml,
        "all:\n"
        "  messaging: {enable: true}\n"
        f"  hook: !!python/object/apply:os.system ['touch {witness}']\n"
        "  constant: !php/const PHP_EOL\n",
    )

    assert config.enabled is True
    assert not witness.exists()


def test_a_directory_is_refused(project_yml: Path) -> None:
    project_yml.mkdir(parents=True)

    with pytest.raises(ProjectConfigError) as raised:
        load_messaging_config(project_yml, environment="prod")

    assert str(raised.value) == (
        f"{project_yml}: is a directory; expected e-venement's config/project.yml file."
    )


def test_an_unreadable_file_is_refused(project_yml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project_yml, "all:\n  messaging: {enable: true}\n")
    if os.geteuid() == 0:  # root reads anything: simulate what another user would get
        denied = PermissionError(13, "Permission denied", str(project_yml))

        def refuse(self: Path) -> bytes:
            raise denied

        monkeypatch.setattr(Path, "read_bytes", refuse)
    else:
        project_yml.chmod(0)

    with pytest.raises(ProjectConfigError) as raised:
        load_messaging_config(project_yml, environment="prod")

    assert str(raised.value).startswith(f"{project_yml}: cannot be read (Permission denied); ")
    assert "check its permissions, or set EVIM_PROJECT_YML" in str(raised.value)


# --- Once per process: get_messaging_config() and its log ------------------------------------


def messaging_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == "evim.messaging"
    ]


def test_missing_file_is_logged_once(
    project_yml: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evim.messaging")
    settings.EVIM_PROJECT_YML = project_yml

    first = get_messaging_config()
    second = get_messaging_config()

    assert first is second
    assert first.enabled is False
    ((level, message),) = messaging_log(caplog)
    assert level == logging.INFO
    assert message.startswith(f"{project_yml} does not exist: messaging is disabled.")
    assert "copy config/project.yml.example" in message


def test_warnings_are_logged_once(
    project_yml: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evim.messaging")
    settings.EVIM_PROJECT_YML = write(
        project_yml, "all:\n  messaging:\n    enable: true\n    x: 1\n"
    )

    get_messaging_config()
    get_messaging_config()

    ((level, message),) = messaging_log(caplog)
    assert level == logging.WARNING
    assert message.startswith(f"{project_yml}, line 4, column 5: all.messaging.x: unknown key")


def test_settings_choose_the_file_and_the_environment(tmp_path: Path, settings: Settings) -> None:
    settings.EVIM_PROJECT_YML = write(tmp_path / "a.yml", ENVIRONMENTS)
    settings.EVIM_ENV = "dev"
    assert get_messaging_config().enabled is False

    settings.EVIM_ENV = "prod"
    assert get_messaging_config().chatrooms == (
        "desk@conference.localhost",
        "box@conference.localhost",
    )

    settings.EVIM_PROJECT_YML = tmp_path / "missing.yml"
    assert get_messaging_config().source is None


def test_cache_clear_reads_the_file_again(project_yml: Path, settings: Settings) -> None:
    settings.EVIM_PROJECT_YML = write(project_yml, "all:\n  messaging: {enable: true}\n")
    assert get_messaging_config().enabled is True

    write(project_yml, "all:\n  messaging: {enable: false}\n")
    assert get_messaging_config().enabled is True  # loaded once
    get_messaging_config.cache_clear()
    assert get_messaging_config().enabled is False


def test_errors_are_raised_on_every_call(project_yml: Path, settings: Settings) -> None:
    settings.EVIM_PROJECT_YML = write(project_yml, "all:\n  messaging: {enable: 1}\n")

    for _attempt in range(2):
        with pytest.raises(ProjectConfigError, match=r"all\.messaging\.enable: expected true"):
            get_messaging_config()


# --- Startup: the system check and the evim command ------------------------------------------


def test_check_reports_each_error_as_messaging_e001(project_yml: Path, settings: Settings) -> None:
    settings.EVIM_PROJECT_YML = write(
        project_yml, "all:\n  messaging:\n    enable: 'yes'\n    chatrooms: [room@]\n"
    )

    issues = check_project_yml(None)

    assert [issue.id for issue in issues] == ["messaging.E001", "messaging.E001"]
    assert all(issue.level == checks.ERROR for issue in issues)
    assert str(issues[0].msg).startswith(f"{project_yml}, line 3, column 13: all.messaging.enable")
    assert str(issues[1].msg).startswith(f"{project_yml}, line 4, column 17: all.messaging.chat")
    assert "config/project.yml.example" in str(issues[0].hint)


def test_check_is_registered_and_quiet_on_a_valid_file(
    project_yml: Path, settings: Settings
) -> None:
    settings.EVIM_PROJECT_YML = write(project_yml, "all:\n  messaging: {enable: true}\n")

    assert check_project_yml in checks.registry.registry.get_checks()
    assert check_project_yml(None) == []


def test_evim_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path)
    write(
        Path(environment["EVIM_PROJECT_YML"]),
        'all:\n  messaging:\n    enable: "true"\n    chatrooms: [hall@conference.localhost/x]\n',
    )

    result = run_evim("check", environment=environment, check=False)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first, second = result.stderr.splitlines()
    path = environment["EVIM_PROJECT_YML"]
    assert first.startswith(f"evim: error: {path}, line 3, column 13: all.messaging.enable: ")
    assert "found the text 'true' in quotes" in first
    assert second.startswith(f"{path}, line 4, column 17: all.messaging.chatrooms[0]: ")


def test_evim_starts_without_the_file_and_says_so_once(tmp_path: Path) -> None:
    environment = evim_environment(tmp_path)

    result = run_evim("check", environment=environment, check=False)

    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "evim.messaging" in line]
    assert len(said) == 1
    assert f"{environment['EVIM_PROJECT_YML']} does not exist: messaging is disabled" in said[0]
