"""Flow definitions: load a YAML flow file into typed, validated objects.

A flow that names an unknown step, leaves a step unreachable, or uses a message id that a
catalog lacks is rejected with an error naming the file and the step (``FlowError``), at
start-up (a Django system check) and in CI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

FLOW_DIR = Path(__file__).resolve().parent / "flows"

StepType = Literal[
    "language", "choice", "text", "number", "multi", "summary", "info", "thread", "end"
]
STEP_TYPES: frozenset[str] = frozenset(StepType.__args__)  # type: ignore[attr-defined]
STORES = frozenset({"triage", "sealed"})
EFFECTS = frozenset({"submit", "ready_now", "purge"})
# Targets that are not step names: go to the step named by the chosen value, or go back.
BY_VALUE = "by_value"
BACK = "_back"


class FlowError(ValueError):
    """A flow file is invalid; the message names the file and the step."""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    primary: bool = False  # the button a reader is expected to press (drawn as the main one)


@dataclass(frozen=True)
class Transition:
    goto: str
    when: tuple[tuple[str, str], ...] = ()

    def matches(self, answers: dict[str, Any], choice: str | None) -> bool:
        for key, expected in self.when:
            actual = choice if key == "_choice" else answers.get(key)
            if str(actual) != expected:
                return False
        return True


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    prompt: str
    transitions: tuple[Transition, ...] = ()
    choices: tuple[Choice, ...] = ()
    field: str | None = None
    store: str | None = None
    optional: bool = False
    max_length: int = 4000
    minimum: int | None = None
    maximum: int | None = None
    summary_label: str | None = None
    effect: str | None = None
    edit: bool = False

    def choice_values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    start: str
    menu: str
    delete: str
    steps: dict[str, Step] = field(default_factory=dict)
    source: str = ""
    # Who writes changes the words (a relative writes about him, the man about himself): the
    # answer named by ``voice_field`` picks a table of text → text said instead.
    voice_field: str | None = None
    voices: dict[str, dict[str, str]] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def voiced(self, answers: dict[str, Any]) -> dict[str, str]:
        """The texts said instead of others for whoever writes, as ``answers`` say."""
        if self.voice_field is None:
            return {}
        return self.voices.get(str(answers.get(self.voice_field)), {})

    def answer_steps(self) -> list[Step]:
        """Steps whose answer is stored, in file order (the order a summary shows them)."""
        return [s for s in self.steps.values() if s.field]

    def message_ids(self) -> set[str]:
        ids: set[str] = set()
        for step in self.steps.values():
            ids.add(step.prompt)
            ids.update(c.label for c in step.choices)
            if step.summary_label:
                ids.add(step.summary_label)
        for table in self.voices.values():
            ids.update(table.values())
        return ids


def _fail(source: str, step: str | None, problem: str) -> FlowError:
    where = f"{source}, step '{step}'" if step else source
    return FlowError(f"{where}: {problem}")


def _transitions(source: str, step_id: str, raw: Any) -> tuple[Transition, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (Transition(goto=raw),)
    if not isinstance(raw, list):
        raise _fail(source, step_id, "'next' must be a step name or a list of {when, goto}")
    out: list[Transition] = []
    for item in raw:
        if not isinstance(item, dict) or "goto" not in item:
            raise _fail(source, step_id, "every entry of 'next' needs a 'goto'")
        when = item.get("when") or {}
        if not isinstance(when, dict):
            raise _fail(source, step_id, "'when' must map answer names to values")
        out.append(Transition(str(item["goto"]), tuple((str(k), str(v)) for k, v in when.items())))
    if out[-1].when:
        raise _fail(source, step_id, "the last entry of 'next' must have no 'when' (the default)")
    return tuple(out)


def _step(source: str, step_id: str, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise _fail(source, step_id, "a step must be a mapping")
    kind = raw.get("type")
    if kind not in STEP_TYPES:
        raise _fail(source, step_id, f"unknown type {kind!r}; expected one of {sorted(STEP_TYPES)}")
    if not raw.get("prompt"):
        raise _fail(source, step_id, "missing 'prompt' (a message id)")
    choices = tuple(
        Choice(value=str(c["value"]), label=str(c["label"]), primary=bool(c.get("primary")))
        for c in raw.get("choices") or []
    )
    if kind in {"choice", "multi", "summary", "thread"} and not choices:
        raise _fail(source, step_id, f"a '{kind}' step needs 'choices'")
    if len({c.value for c in choices}) != len(choices):
        raise _fail(source, step_id, "two choices share a value")
    store = raw.get("store")
    if raw.get("field") and store not in STORES:
        raise _fail(source, step_id, f"a step with a 'field' needs 'store' in {sorted(STORES)}")
    effect = raw.get("effect")
    if effect is not None and effect not in EFFECTS:
        raise _fail(source, step_id, f"unknown effect {effect!r}")
    return Step(
        id=step_id,
        type=str(kind),
        prompt=str(raw["prompt"]),
        transitions=_transitions(source, step_id, raw.get("next")),
        choices=choices,
        field=raw.get("field"),
        store=store,
        optional=bool(raw.get("optional", False)),
        max_length=int(raw.get("max_length", 4000)),
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        summary_label=raw.get("summary_label"),
        effect=effect,
        edit=bool(raw.get("edit", False)),
    )


def _targets(step: Step) -> Iterable[str]:
    for transition in step.transitions:
        if transition.goto == BY_VALUE:
            yield from step.choice_values()
        elif transition.goto != BACK:
            yield transition.goto


def validate(flow: Flow, known_message_ids: dict[str, set[str]] | None = None) -> None:
    """Raise FlowError for unknown or unreachable steps, or texts missing from a catalog."""
    src = flow.source
    for name in (flow.start, flow.menu, flow.delete):
        if name not in flow.steps:
            raise _fail(src, None, f"'start'/'menu'/'delete' names unknown step '{name}'")
    for step in flow.steps.values():
        if step.type != "end" and not step.transitions:
            raise _fail(src, step.id, "missing 'next'")
        for target in _targets(step):
            if target not in flow.steps:
                raise _fail(src, step.id, f"'next' names unknown step '{target}'")
    reachable: set[str] = set()
    pending = [flow.start, flow.menu, flow.delete]
    while pending:
        current = pending.pop()
        if current in reachable:
            continue
        reachable.add(current)
        pending.extend(_targets(flow.steps[current]))
    for step_id in flow.steps:
        if step_id not in reachable:
            raise _fail(src, step_id, "unreachable: no step leads to it")
    _validate_voices(flow)
    for lang, ids in (known_message_ids or {}).items():
        for table in flow.voices.values():
            missing = sorted(set(table.values()) - ids)
            if missing:
                raise _fail(src, None, f"voice text {missing[0]!r} has no '{lang}' translation")
        for step in flow.steps.values():
            texts = {step.prompt, *(c.label for c in step.choices)}
            if step.summary_label:
                texts.add(step.summary_label)
            missing = sorted(texts - ids)
            if missing:
                raise _fail(src, step.id, f"text {missing[0]!r} has no '{lang}' translation")


def _validate_voices(flow: Flow) -> None:
    if not flow.voices:
        return
    src = flow.source
    owner = next((s for s in flow.steps.values() if s.field == flow.voice_field), None)
    if owner is None:
        raise _fail(src, None, f"'voices' names field {flow.voice_field!r} that no step asks")
    said: set[str] = set()
    for step in flow.steps.values():
        said.add(step.prompt)
        said.update(c.label for c in step.choices)
        if step.summary_label:
            said.add(step.summary_label)
    for value, table in flow.voices.items():
        if value not in owner.choice_values():
            raise _fail(src, owner.id, f"'voices' names {value!r}, not one of its choices")
        for text in table:
            if text not in said:
                raise _fail(src, None, f"voice '{value}' replaces {text!r}, which no step says")


def _voices(source: str, raw: Any) -> tuple[str | None, dict[str, dict[str, str]]]:
    if raw is None:
        return None, {}
    if not isinstance(raw, dict) or not isinstance(raw.get("field"), str):
        raise _fail(source, None, "'voices' needs a 'field' and a table per answer value")
    tables: dict[str, dict[str, str]] = {}
    for value, table in raw.items():
        if value == "field":
            continue
        if not isinstance(table, dict):
            raise _fail(source, None, f"voice {value!r} must map texts to texts")
        tables[str(value)] = {str(k): str(v) for k, v in table.items()}
    return str(raw["field"]), tables


def parse(text: str, source: str) -> Flow:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(source, None, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict):
        raise _fail(source, None, "a flow needs 'id', 'start' and a mapping of 'steps'")
    steps = {str(k): _step(source, str(k), v) for k, v in raw["steps"].items()}
    voice_field, voices = _voices(source, raw.get("voices"))
    flow = Flow(
        id=str(raw.get("id")),
        version=int(raw.get("version", 1)),
        start=str(raw.get("start")),
        menu=str(raw.get("menu", raw.get("start"))),
        delete=str(raw.get("delete", "")),
        steps=steps,
        source=source,
        voice_field=voice_field,
        voices=voices,
    )
    validate(flow)
    return flow


def load_file(path: Path) -> Flow:
    return parse(path.read_text(encoding="utf-8"), str(path.name))


@lru_cache(maxsize=8)
def get(flow_id: str = "application") -> Flow:
    return load_file(FLOW_DIR / f"{flow_id}.yaml")


def all_flow_files() -> list[Path]:
    return sorted(FLOW_DIR.glob("*.yaml"))
