"""The flow engine: a pure function from (flow, state, answers, reply) to the next state.

It knows nothing of channels, storage or HTML. Channels turn what the applicant did into a
:class:`Reply` and render the :class:`Prompt`; :mod:`safepassage.conversations.actions` stores
the outcome and performs its effects in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from safepassage.cases.markers import SEALED_ANSWER
from safepassage.conversations import catalog
from safepassage.conversations.flows import BACK, BY_VALUE, Flow, Step

Action = Literal["answer", "skip", "back", "restart", "delete"]
Answers = dict[str, Any]


@dataclass(frozen=True)
class DialogueState:
    step: str
    history: tuple[str, ...] = ()
    editing: bool = False
    submitted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "history": list(self.history),
            "editing": self.editing,
            "submitted": self.submitted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DialogueState:
        return cls(
            step=str(data["step"]),
            history=tuple(data.get("history", ())),
            editing=bool(data.get("editing", False)),
            submitted=bool(data.get("submitted", False)),
        )


@dataclass(frozen=True)
class Reply:
    action: Action = "answer"
    choice: str | None = None
    text: str | None = None
    multi: tuple[str, ...] = ()


@dataclass
class Outcome:
    state: DialogueState
    answers: Answers
    changed: set[str] = field(default_factory=set)
    effects: list[str] = field(default_factory=list)
    reask: str | None = None
    message: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class SummaryLine:
    label: str
    value_ids: tuple[str, ...] = ()
    value_text: str | None = None


@dataclass(frozen=True)
class Prompt:
    step: Step
    can_go_back: bool
    summary: tuple[SummaryLine, ...] = ()
    selected: tuple[str, ...] = ()


def start(flow: Flow, lang: str | None, submitted: bool = False) -> DialogueState:
    first = flow.menu if submitted else flow.start
    state = DialogueState(step=first, submitted=submitted)
    return _settle(flow, state, lang, {}, [])


def _settle(
    flow: Flow, state: DialogueState, lang: str | None, answers: Answers, effects: list[str]
) -> DialogueState:
    """Enter ``state.step``: skip what needs no input, collect the step's effect."""
    for _ in range(len(flow.steps) + 1):
        step = flow.step(state.step)
        if step.type == "language" and catalog.is_language(lang):
            state = replace(state, step=_next(flow, step, answers, None, state))
            continue
        if state.editing and step.field and step.field in answers and step.type != "summary":
            state = replace(state, step=_next(flow, step, answers, None, state))
            continue
        break
    step = flow.step(state.step)
    if step.type == "summary":
        state = replace(state, editing=False)
    if step.effect:
        effects.append(step.effect)
    if state.step in (flow.menu,) or step.type == "end":
        state = replace(state, history=())
    return state


def _next(
    flow: Flow, step: Step, answers: Answers, choice: str | None, state: DialogueState
) -> str:
    for transition in step.transitions:
        if transition.matches(answers, choice):
            if transition.goto == BY_VALUE:
                return choice or step.choice_values()[0]
            if transition.goto == BACK:
                return state.history[-1] if state.history else flow.menu
            return transition.goto
    raise AssertionError(f"step {step.id} has no default transition")  # validated at load


def _move(
    flow: Flow,
    state: DialogueState,
    target: str,
    lang: str | None,
    answers: Answers,
    outcome: Outcome,
    remember: bool = True,
) -> None:
    history = (*state.history, state.step) if remember else state.history
    if target == (state.history[-1] if state.history else None):
        history = state.history[:-1]  # "back"-like transitions must not grow history
    editing = state.editing or flow.step(state.step).edit
    moved = DialogueState(target, history, editing, state.submitted)
    outcome.state = _settle(flow, moved, lang, answers, outcome.effects)


def _parse_answer(step: Step, reply: Reply) -> tuple[Any, str | None]:
    """The stored value for this reply, or a re-ask message id."""
    if step.type == "text":
        raw = (reply.text or "").strip()
        if reply.action == "skip" or not raw:
            return ("", None) if step.optional else (None, "reask.required")
        if len(raw) > step.max_length:
            return None, "reask.too_long"
        return raw, None
    if step.type == "number":
        raw = (reply.text or reply.choice or "").strip()
        try:
            number = int(raw)
        except ValueError:
            return None, "reask.number"
        low, high = step.minimum or 0, step.maximum or 10**6
        return (number, None) if low <= number <= high else (None, "reask.number")
    if step.type == "multi":
        allowed = set(step.choice_values())
        picked = [v for v in step.choice_values() if v in set(reply.multi)]
        return (picked, None) if set(reply.multi) <= allowed else (None, "reask.choice")
    if reply.choice in step.choice_values():
        return reply.choice, None
    return None, "reask.choice"


def advance(
    flow: Flow, state: DialogueState, answers: Answers, reply: Reply, lang: str | None
) -> Outcome:
    outcome = Outcome(state=state, answers=dict(answers))
    step = flow.step(state.step)
    if reply.action == "back":
        if state.history:
            back = DialogueState(state.history[-1], state.history[:-1], False, state.submitted)
            outcome.state = back
        return outcome
    if reply.action == "restart":
        if not state.submitted:
            outcome.changed = set(outcome.answers)
            outcome.answers = {}
        outcome.state = start(flow, lang, state.submitted)
        return outcome
    if reply.action == "delete":
        if state.step != flow.delete:
            _move(flow, state, flow.delete, lang, outcome.answers, outcome)
        return outcome

    if step.type == "language":
        if reply.choice and catalog.is_language(reply.choice):
            outcome.language = reply.choice
            _move(
                flow,
                state,
                _next(flow, step, answers, None, state),
                reply.choice,
                outcome.answers,
                outcome,
            )
        else:
            outcome.reask = "reask.choice"
        return outcome
    if step.type == "end":
        if step.transitions:
            _move(
                flow,
                state,
                _next(flow, step, answers, None, state),
                lang,
                outcome.answers,
                outcome,
                remember=False,
            )
        return outcome
    if step.type == "thread" and reply.choice is None and (reply.text or "").strip():
        text = (reply.text or "").strip()
        if len(text) > step.max_length:
            outcome.reask = "reask.too_long"
        else:
            outcome.message = text
        return outcome

    value, reask = _parse_answer(step, reply)
    if reask:
        outcome.reask = reask
        return outcome
    if step.field:
        outcome.answers[step.field] = value
        outcome.changed.add(step.field)
        if step.field == "company" and value != "group":
            outcome.answers.pop("group_size", None)
            outcome.changed.add("group_size")
    choice = value if isinstance(value, str) and step.type != "text" else None
    target = _next(flow, step, outcome.answers, choice, state)
    if step.edit and target in flow.steps and flow.step(target).field:
        # Editing one answer: ask that step even though it was answered, then return.
        outcome.state = DialogueState(target, (*state.history, state.step), True, state.submitted)
        return outcome
    _move(flow, state, target, lang, outcome.answers, outcome)
    return outcome


def _voiced(step: Step, said: dict[str, str]) -> Step:
    """``step`` with its texts as whoever writes says them (Flow.voiced)."""
    if not said:
        return step
    choices = tuple(replace(c, label=said.get(c.label, c.label)) for c in step.choices)
    return replace(step, prompt=said.get(step.prompt, step.prompt), choices=choices)


def prompt(flow: Flow, state: DialogueState, answers: Answers) -> Prompt:
    """What to show now, in the words that fit whoever writes (a relative, or the man)."""
    said = flow.voiced(answers)
    step = _voiced(flow.step(state.step), said)
    summary: list[SummaryLine] = []
    if step.type == "summary":
        for answered in flow.answer_steps():
            if answered.field not in answers or not answered.summary_label:
                continue
            summary.append(_summary_line(_voiced(answered, said), answers[answered.field]))
    selected: tuple[str, ...] = ()
    if step.field and step.field in answers:
        value = answers[step.field]
        selected = tuple(value) if isinstance(value, list) else (str(value),)
    return Prompt(
        step=step, can_go_back=bool(state.history), summary=tuple(summary), selected=selected
    )


def _summary_line(step: Step, value: Any) -> SummaryLine:
    label = step.summary_label or step.prompt
    labels = {c.value: c.label for c in step.choices}
    if isinstance(value, list):
        return SummaryLine(label, value_ids=tuple(labels[v] for v in value) or ("summary.none",))
    if step.type in {"choice"} and str(value) in labels:
        return SummaryLine(label, value_ids=(labels[str(value)],))
    if value == "":
        return SummaryLine(label, value_ids=("summary.skipped",))
    if value == SEALED_ANSWER:
        return SummaryLine(label, value_ids=("summary.sealed",))
    return SummaryLine(label, value_text=str(value))
