"""The flow engine on its own: no database, no channel."""

from __future__ import annotations

from safepassage.conversations import engine, flows
from safepassage.conversations.engine import Reply

FLOW = flows.get("application")


def run(*replies: Reply, lang: str = "ru") -> engine.Outcome:
    state = engine.start(FLOW, lang)
    answers: dict[str, object] = {}
    outcome = engine.Outcome(state, answers)
    for reply in replies:
        outcome = engine.advance(FLOW, state, answers, reply, lang)
        state, answers = outcome.state, outcome.answers
    return outcome


def test_language_step_is_skipped_when_the_channel_knows_it() -> None:
    assert engine.start(FLOW, "ko").step == "who"
    assert engine.start(FLOW, None).step == "language"


def test_language_can_be_chosen() -> None:
    state = engine.start(FLOW, None)
    outcome = engine.advance(FLOW, state, {}, Reply(choice="ko"), None)
    assert outcome.language == "ko" and outcome.state.step == "who"
    bad = engine.advance(FLOW, state, {}, Reply(choice="xx"), None)
    assert bad.reask == "reask.choice" and bad.state.step == "language"


def test_group_size_only_when_with_others() -> None:
    common = [Reply(choice="self"), Reply(choice="front"), Reply(choice="now")]
    skips = [Reply(action="skip")] * 4
    alone = run(*common, *skips, Reply(choice="alone"))
    assert alone.state.step == "wishes"
    group = run(*common, *skips, Reply(choice="group"))
    assert group.state.step == "group_size"
    assert run(*common, *skips, Reply(choice="group"), Reply(text="250")).reask == "reask.number"


def test_required_choice_cannot_be_skipped() -> None:
    outcome = run(Reply(action="skip"))
    assert outcome.reask == "reask.choice" and outcome.state.step == "who"


def test_back_returns_to_the_previous_question() -> None:
    outcome = run(Reply(choice="self"), Reply(choice="front"), Reply(action="back"))
    assert outcome.state.step == "whereabouts"
    assert outcome.answers["whereabouts"] == "front"  # kept, shown as selected


def test_confirming_the_summary_submits() -> None:
    common = [Reply(choice="self"), Reply(choice="front"), Reply(choice="now")]
    outcome = run(
        *common,
        *[Reply(action="skip")] * 4,
        Reply(choice="alone"),
        Reply(),
        Reply(choice="confirm"),
    )
    assert outcome.state.step == "done"
    assert outcome.effects == ["submit"]


def test_delete_can_be_asked_anywhere_and_cancelled() -> None:
    outcome = run(Reply(choice="self"), Reply(action="delete"))
    assert outcome.state.step == "delete_confirm"
    kept = engine.advance(FLOW, outcome.state, outcome.answers, Reply(choice="keep"), "ru")
    assert kept.state.step == "whereabouts"
    erased = engine.advance(FLOW, outcome.state, outcome.answers, Reply(choice="erase"), "ru")
    assert erased.effects == ["purge"]


def test_menu_text_is_a_message_for_operators() -> None:
    state = engine.start(FLOW, "ko", submitted=True)
    assert state.step == "menu"
    outcome = engine.advance(FLOW, state, {}, Reply(text="  hello  "), "ko")
    assert outcome.message == "hello" and outcome.state.step == "menu"
