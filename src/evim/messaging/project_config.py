"""The ``messaging`` section of e-venement's ``config/project.yml``, read strictly.

e-venement (Symfony) writes one section per environment at the top of the file, ``all:``
applying everywhere and ``prod:``, ``dev:``, ``test:``... overriding it key by key; the
original documentation writes ``app:`` for ``all:``.  Only ``messaging`` is evim's: every
other setting of the file is e-venement's and is left alone, unread.

    all:
      messaging:
        enable: true
        chatrooms: [structure@conference.localhost]

The file is composed into a YAML node tree (SafeLoader's composer and resolver) rather than
loaded into Python objects: nodes keep their line numbers, so every mistake is reported
with its file, line, key path, what was found and what is expected — all of them at once.
Only values with the tags SafeLoader constructs are accepted in the parts evim reads, and
nothing is ever constructed from the rest, so a ``!!python/...`` tag can do nothing.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from slixmpp import JID
from slixmpp.jid import InvalidJID

from evim.lib.errors import EvimError

logger = logging.getLogger("evim.messaging")

KNOWN_KEYS = ("enable", "chatrooms")
# ``all:`` is e-venement's name; ``app:`` is what its documentation writes.
BASE_SECTIONS = ("all", "app")
EXAMPLE_FILE = "config/project.yml.example"
ROOM_EXAMPLE = "room@conference.example.org"

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_STR = _YAML_TAG_PREFIX + "str"
_BOOL = _YAML_TAG_PREFIX + "bool"
_NULL = _YAML_TAG_PREFIX + "null"
_SEQ = _YAML_TAG_PREFIX + "seq"
_MAP = _YAML_TAG_PREFIX + "map"
_MERGE = _YAML_TAG_PREFIX + "merge"
# The tags yaml.safe_load would construct: anything else (!!python/..., !php/...) is refused.
_SAFE_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag) | {_MERGE}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class MessagingConfig:
    """What the ``messaging`` section says for one environment, once validated."""

    enabled: bool
    # Bare room addresses, normalised, without duplicates, in the file's order.
    chatrooms: tuple[str, ...]
    # The file read; None when it does not exist.
    source: Path | None
    environment: str
    # Mistakes that do not stop evim (unknown keys, duplicate rooms), one line each.
    warnings: tuple[str, ...] = ()
    # Why messaging is disabled when the file does not decide it explicitly, one line each.
    notices: tuple[str, ...] = ()


class ProjectConfigError(EvimError):
    """project.yml cannot be used; the message holds every mistake, one per line."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))


# --- Loading ---------------------------------------------------------------------------------


def load_messaging_config(path: Path, *, environment: str) -> MessagingConfig:
    """Read ``path`` and return the messaging settings that apply in ``environment``.

    Raises ProjectConfigError listing every error found, in every environment's section
    (a mistake under ``dev:`` stops a ``prod`` start too: it would stop ``dev`` later).
    """
    findings = _Findings(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _missing_file(path, environment)
    except OSError as error:
        raise ProjectConfigError([_unreadable(path, error)]) from None
    try:
        root = yaml.compose(data, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise ProjectConfigError([_yaml_syntax_error(path, error)]) from None
    sections = _read_sections(root, environment, findings)
    if findings.errors:
        raise ProjectConfigError(findings.errors)
    return _combine(sections, environment, findings)


def _missing_file(path: Path, environment: str) -> MessagingConfig:
    notice = (
        f"{path} does not exist: messaging is disabled. To enable it, copy {EXAMPLE_FILE} "
        f"there (or point EVIM_PROJECT_YML at e-venement's config/project.yml) and set "
        f"enable: true under messaging:."
    )
    return MessagingConfig(False, (), None, environment, (), (notice,))


def _unreadable(path: Path, error: OSError) -> str:
    if isinstance(error, IsADirectoryError):
        return f"{path}: is a directory; expected e-venement's config/project.yml file."
    reason = error.strerror or str(error)
    return (
        f"{path}: cannot be read ({reason}); expected a file evim's user may read "
        "(check its permissions, or set EVIM_PROJECT_YML)."
    )


# --- YAML syntax errors, in plain words ------------------------------------------------------


def _yaml_syntax_error(path: Path, error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.reader.ReaderError):
        return (
            f"{path}: not readable as text ({error.reason}, at offset {error.position}); "
            "expected a YAML file saved as UTF-8."
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        return f"{path}: not valid YAML ({error})."
    mark = error.problem_mark or error.context_mark
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    return f"{where}: not valid YAML: {_explain_yaml_problem(error)}."


def _explain_yaml_problem(error: yaml.MarkedYAMLError) -> str:
    problem = (error.problem or "").replace("'<stream end>'", "the end of the file")
    problem = problem.replace("end of stream", "end of the file")
    context = error.context or ""
    started = f" at {_line_column(error.context_mark)}" if error.context_mark else ""
    if "'\\t'" in problem:
        return "found a tab character; YAML indentation must be made of spaces, not tabs"
    if "flow sequence" in context:
        return f"the list opened with '['{started} is not closed: {problem}"
    if "flow mapping" in context:
        return f"the mapping opened with '{{'{started} is not closed: {problem}"
    if "quoted scalar" in context:
        return f"the quoted text starting{started} is not closed: {problem}"
    if "mapping values are not allowed" in problem:
        return (
            "unexpected ':' (a value containing ': ' must be put in quotes, "
            "or the indentation of this line is wrong)"
        )
    if problem.startswith("expected <block end>"):
        return (
            f"this line is not indented like the keys of the block starting{started} "
            "(keys of one mapping must start in the same column)"
        )
    if "single document" in context:
        return "the file holds more than one YAML document ('---'); expected a single one"
    described = f"{context}{started}: {problem}" if context else problem
    return described


def _line_column(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


# --- Findings: errors, warnings and notices, each on one line --------------------------------


@dataclass
class _Findings:
    path: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def where(self, node: yaml.Node) -> str:
        return f"{self.path}, {_line_column(node.start_mark)}"

    def error(self, node: yaml.Node, key_path: str, message: str) -> None:
        self.errors.append(f"{self.where(node)}: {key_path}: {message}")

    def warning(self, node: yaml.Node, key_path: str, message: str) -> None:
        self.warnings.append(f"{self.where(node)}: {key_path}: {message}")

    def expected(self, node: yaml.Node, key_path: str, expected: str) -> None:
        self.error(node, key_path, f"expected {expected}, found {_describe(node)}.")


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text)} characters)"


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG_PREFIX) if tag.startswith(_YAML_TAG_PREFIX) else tag


def _describe(node: yaml.Node) -> str:
    """What a node holds, as an administrator would say it."""
    if node.tag not in _SAFE_TAGS:
        return f"a value tagged {_short_tag(node.tag)}"
    if isinstance(node, yaml.SequenceNode):
        return f"a list of {len(node.value)} item(s)"
    if isinstance(node, yaml.MappingNode):
        return "a mapping (key: value lines)"
    text = _shorten(str(node.value))
    kinds = {
        _NULL: f"an empty value ({text})" if text else "an empty value",
        _BOOL: f"the boolean {text}",
        _YAML_TAG_PREFIX + "int": f"the number {text}",
        _YAML_TAG_PREFIX + "float": f"the number {text}",
        _YAML_TAG_PREFIX + "timestamp": f"the date {text}",
    }
    if node.tag in kinds:
        return kinds[node.tag]
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        return f"the text {text!r} in quotes"
    return f"the text {text!r}"


# --- Mappings: keys, duplicates, merges (<<) -------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    key: yaml.Node
    value: yaml.Node


@dataclass
class _Mapping:
    entries: dict[str, _Entry] = field(default_factory=dict)
    # (key, first occurrence, later occurrence) among the mapping's own keys.
    duplicates: list[tuple[str, _Entry, _Entry]] = field(default_factory=list)
    # Keys that are not plain values (a list or mapping used as a key, a foreign tag).
    odd_keys: list[_Entry] = field(default_factory=list)


def _key_text(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag in _SAFE_TAGS and node.tag != _MERGE:
        return str(node.value)
    return None


def _key_label(node: yaml.Node) -> str:
    """A key as written, for key paths ('<<' for a merge, '?' for a key that is no text)."""
    return "<<" if node.tag == _MERGE else (_key_text(node) or "?")


def _read_mapping(
    node: yaml.MappingNode, key_path: str, findings: _Findings, outer: frozenset[int] = frozenset()
) -> _Mapping:
    """The keys of a mapping; its own keys win over those merged in with ``<<``."""
    inside = outer | {id(node)}  # mappings being read: a merge cycle stops there
    own: dict[str, _Entry] = {}
    merged: dict[str, _Entry] = {}
    mapping = _Mapping()
    for key_node, value_node in node.value:
        entry = _Entry(key_node, value_node)
        if key_node.tag == _MERGE:
            for source in _merge_sources(value_node, f"{key_path}.<<", findings):
                if id(source) not in inside:
                    inner = _read_mapping(source, key_path, findings, inside)
                    for merged_key, merged_entry in inner.entries.items():
                        merged.setdefault(merged_key, merged_entry)  # the first source wins
            continue
        key = _key_text(key_node)
        if key is None:
            mapping.odd_keys.append(entry)
            continue
        if key in own:
            mapping.duplicates.append((key, own[key], entry))
        own[key] = entry
    mapping.entries = {**merged, **own}
    return mapping


def _merge_sources(node: yaml.Node, key_path: str, findings: _Findings) -> list[yaml.MappingNode]:
    candidates = node.value if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ else [node]
    sources = [item for item in candidates if isinstance(item, yaml.MappingNode)]
    if len(sources) != len(candidates) or not all(item.tag == _MAP for item in sources):
        findings.expected(node, key_path, "a mapping (or a list of mappings) to merge")
        return []
    return sources


def _report_duplicates(mapping: _Mapping, key_path: str, findings: _Findings) -> None:
    for key, first, again in mapping.duplicates:
        findings.error(
            again.key,
            f"{key_path}.{key}" if key_path else key,
            f"expected each key once, found it again (first at line "
            f"{first.key.start_mark.line + 1}).",
        )


# --- Foreign tags: refused anywhere under messaging ------------------------------------------


def _unsafe_tags(node: yaml.Node, key_path: str, seen: set[int]) -> Iterator[tuple[yaml.Node, str]]:
    """Every node of the tree with a tag safe loading refuses (aliases visited once)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if node.tag not in _SAFE_TAGS:
        yield node, key_path
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _unsafe_tags(item, f"{key_path}[{index}]", seen)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{key_path}.{_key_label(key_node)}"
            yield from _unsafe_tags(key_node, child, seen)
            yield from _unsafe_tags(value_node, child, seen)


def _reject_unsafe_tags(node: yaml.Node, key_path: str, findings: _Findings) -> None:
    for tagged, tagged_path in _unsafe_tags(node, key_path, set()):
        findings.error(
            tagged,
            tagged_path,
            f"expected a plain YAML value, found the tag {_short_tag(tagged.tag)} "
            "(evim reads project.yml with safe loading: no tags other than YAML's own).",
        )


# --- Sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Section:
    """What one top-level section (all:, prod:...) says about messaging."""

    name: str
    has_messaging: bool = False
    enable: bool | None = None  # None: no ``enable`` key (or an invalid one, reported)
    chatrooms: tuple[str, ...] | None = None  # None: no ``chatrooms`` key


def _read_sections(
    root: yaml.Node | None, environment: str, findings: _Findings
) -> dict[str, _Section]:
    """Every top-level section that concerns messaging, validated, by name."""
    if root is None:  # an empty file, or only comments
        return {}
    if not isinstance(root, yaml.MappingNode) or root.tag != _MAP:
        findings.expected(root, "(top level)", "a mapping of environments such as all: or prod:")
        return {}
    mapping = _read_mapping(root, "", findings)
    ours = {*BASE_SECTIONS, environment}
    relevant = {
        name: entry
        for name, entry in mapping.entries.items()
        if name in ours or _has_messaging(entry.value)
    }
    mapping.duplicates = [dup for dup in mapping.duplicates if dup[0] in relevant]
    _report_duplicates(mapping, "", findings)
    if all(name in relevant for name in BASE_SECTIONS):
        findings.error(
            relevant["app"].key,
            "app",
            f"expected either all: or app: (app: is the documented name of all:), found "
            f"both (all: at line {relevant['all'].key.start_mark.line + 1}); keep all: only.",
        )
    return {name: _read_section(name, entry.value, findings) for name, entry in relevant.items()}


def _has_messaging(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and any(
        _key_text(key) == "messaging" for key, _value in node.value
    )


def _read_section(name: str, node: yaml.Node, findings: _Findings) -> _Section:
    if node.tag == _NULL:  # ``prod:`` with nothing under it
        return _Section(name)
    if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
        findings.expected(node, name, "a mapping of settings (such as messaging:)")
        return _Section(name)
    mapping = _read_mapping(node, name, findings)
    mapping.duplicates = [dup for dup in mapping.duplicates if dup[0] == "messaging"]
    _report_duplicates(mapping, name, findings)
    entry = mapping.entries.get("messaging")
    if entry is None:
        return _Section(name)
    return _read_messaging(name, entry.value, findings)


def _read_messaging(name: str, node: yaml.Node, findings: _Findings) -> _Section:
    key_path = f"{name}.messaging"
    _reject_unsafe_tags(node, key_path, findings)
    if node.tag == _NULL:  # ``messaging:`` with nothing under it
        return _Section(name, has_messaging=True)
    if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
        if node.tag in _SAFE_TAGS:
            findings.expected(node, key_path, "a mapping with the keys enable and chatrooms")
        return _Section(name, has_messaging=True)
    mapping = _read_mapping(node, key_path, findings)
    _report_duplicates(mapping, key_path, findings)
    _warn_unknown_keys(mapping, key_path, findings)
    enable = mapping.entries.get("enable")
    chatrooms = mapping.entries.get("chatrooms")
    return _Section(
        name,
        has_messaging=True,
        enable=_read_enable(enable.value, f"{key_path}.enable", findings) if enable else None,
        chatrooms=(
            _read_chatrooms(chatrooms.value, f"{key_path}.chatrooms", findings)
            if chatrooms
            else None
        ),
    )


def _warn_unknown_keys(mapping: _Mapping, key_path: str, findings: _Findings) -> None:
    known = ", ".join(KNOWN_KEYS)
    for key, entry in mapping.entries.items():
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            findings.warning(
                entry.key,
                f"{key_path}.{key}",
                f"unknown key {key!r} ignored{hint}; the known keys are {known}.",
            )
    for entry in mapping.odd_keys:
        if entry.key.tag in _SAFE_TAGS:  # a foreign tag is already an error
            findings.warning(
                entry.key,
                key_path,
                f"unknown key ({_describe(entry.key)}) ignored; the known keys are {known}.",
            )


def _read_enable(node: yaml.Node, key_path: str, findings: _Findings) -> bool | None:
    if node.tag not in _SAFE_TAGS:  # already reported
        return None
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
        return _CONSTRUCTOR.construct_yaml_bool(node)
    advice = ""
    if node.tag == _STR and str(node.value).lower() in yaml.constructor.SafeConstructor.bool_values:
        advice = " Remove the quotes."
    findings.error(
        node,
        key_path,
        f"expected true or false, written without quotes, found {_describe(node)}.{advice}",
    )
    return None


# --- Rooms -----------------------------------------------------------------------------------

_LIST_EXAMPLE = f"[{ROOM_EXAMPLE}, ...] or one '- {ROOM_EXAMPLE}' line per room"


def _read_chatrooms(node: yaml.Node, key_path: str, findings: _Findings) -> tuple[str, ...]:
    if node.tag not in _SAFE_TAGS or node.tag == _NULL:  # null: no rooms
        return ()
    if not isinstance(node, yaml.SequenceNode) or node.tag != _SEQ:
        expected = f"a list of room addresses, {_LIST_EXAMPLE}"
        if node.tag == _STR:
            expected += f" (for one room: [{node.value}])"
        findings.expected(node, key_path, expected)
        return ()
    rooms: dict[str, int] = {}
    for index, item in enumerate(node.value):
        item_path = f"{key_path}[{index}]"
        room = _read_room(item, item_path, findings)
        if room is None:
            continue
        if room in rooms:
            findings.warning(
                item,
                item_path,
                f"{room} is already listed as {key_path.rpartition('.')[2]}[{rooms[room]}] "
                "(addresses are compared lowercased); kept once.",
            )
            continue
        rooms[room] = index
    return tuple(rooms)


def _read_room(node: yaml.Node, key_path: str, findings: _Findings) -> str | None:
    if node.tag not in _SAFE_TAGS:  # already reported
        return None
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
        findings.expected(node, key_path, f"a room address such as {ROOM_EXAMPLE}")
        return None
    text = str(node.value)
    room, problem = _normalise_room(text)
    if problem:
        findings.error(
            node,
            key_path,
            f"expected a room address such as {ROOM_EXAMPLE}, found {_shorten(text)!r}: {problem}.",
        )
    return room


def _normalise_room(text: str) -> tuple[str | None, str | None]:
    """The bare room address as slixmpp normalises it, or what is wrong with ``text``."""
    bare, slash, _resource = text.partition("/")
    local, at, domain = bare.partition("@")
    if slash:
        return None, "a room address ends with its domain; remove the '/...' part (a resource)"
    if not at:
        return None, "there is no '@' and no room name (a room address is name@domain)"
    if not local:
        return None, "the room name before '@' is missing"
    if not domain:
        return None, "the domain after '@' is missing"
    try:
        # RFC 7622 §3.2: a final dot is stripped from the domain (slixmpp does not always).
        jid = JID(f"{local}@{domain.removesuffix('.')}")
    except InvalidJID as error:
        return None, _explain_jid_problem(str(error))
    return str(jid.bare), None


def _explain_jid_problem(reason: str) -> str:
    lowered = reason.lower()
    if "nodeprep" in lowered:
        return (
            "the room name holds characters an XMPP address cannot contain "
            "(spaces, \" & ' / : < > @ or control characters)"
        )
    if "localpart" in lowered and ("1023" in lowered or "1024" in lowered):
        return "the room name is longer than 1023 bytes"
    if "@" in lowered:
        return "an address holds a single '@'"
    if "domain" in lowered or "idna" in lowered or "nameprep" in lowered:
        return "the domain is not a valid domain name"
    return f"not a valid XMPP address ({reason})"


# --- Combining all: with the chosen environment ----------------------------------------------


def _combine(
    sections: dict[str, _Section], environment: str, findings: _Findings
) -> MessagingConfig:
    base = sections.get("all") or sections.get("app") or _Section("all")
    override = sections.get(environment) if environment not in BASE_SECTIONS else None
    override = override or _Section(environment)
    enable = override.enable if override.enable is not None else base.enable
    chatrooms = override.chatrooms if override.chatrooms is not None else base.chatrooms
    if not (base.has_messaging or override.has_messaging):
        findings.notices.append(
            f"{findings.path} has no messaging: section for environment {environment!r} "
            f"(under all: or {environment}:): messaging is disabled. See {EXAMPLE_FILE}."
        )
    elif enable is None:
        findings.notices.append(
            f"{findings.path}: messaging: has no enable: key for environment {environment!r}: "
            "messaging is disabled (write enable: true to turn it on)."
        )
    return MessagingConfig(
        enabled=bool(enable),
        chatrooms=chatrooms or (),
        source=findings.path,
        environment=environment,
        warnings=tuple(findings.warnings),
        notices=tuple(findings.notices),
    )


# --- Once per process ------------------------------------------------------------------------


class _CachedMessagingConfig:
    """``get_messaging_config()``: the settings' project.yml, loaded and logged once.

    Cached per (EVIM_PROJECT_YML, EVIM_ENV), so ``override_settings`` gets its own load;
    errors are not cached (raised again on every call).  ``cache_clear()`` forgets all.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str], MessagingConfig] = {}

    def __call__(self) -> MessagingConfig:
        key = (Path(settings.EVIM_PROJECT_YML), str(settings.EVIM_ENV))
        with self._lock:
            config = self._loaded.get(key)
            if config is None:
                config = load_messaging_config(key[0], environment=key[1])
                _log(config)
                self._loaded[key] = config
            return config

    def cache_clear(self) -> None:
        with self._lock:
            self._loaded.clear()


def _log(config: MessagingConfig) -> None:
    for notice in config.notices:
        logger.info("%s", notice)
    for warning in config.warnings:
        logger.warning("%s", warning)


get_messaging_config = _CachedMessagingConfig()
