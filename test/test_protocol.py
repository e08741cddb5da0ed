"""The step-message layout and the transition assembler: pairing must survive duplicates, reordering,
episode boundaries, worker restarts and several workers, and never build a wrong transition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sac_grasp_ros.graph.protocol import (
    HEADER_SIZE,
    LAYOUT_LABELS,
    StepMessage,
    TransitionAssembler,
    Verdict,
    decode,
    encode,
    layout_sizes,
)

ACT, OBS = 7, 17


def make(session: int, episode: int, step: int, *, done: bool = False, seed: int = 0) -> StepMessage:
    rng = np.random.default_rng([session, episode, step, seed])
    return StepMessage(
        session=session,
        episode=episode,
        step=step,
        reward=float(rng.normal()),
        terminated=done,
        truncated=False,
        success=False,
        action=rng.uniform(-1, 1, ACT).astype(np.float32),
        observation=rng.normal(size=OBS).astype(np.float32),
    )


def test_encode_decode_round_trip_and_layout():
    msg = make(123456789, 42, 7, done=True)
    data = encode(msg)
    assert len(data) == HEADER_SIZE + ACT + OBS
    back = decode(np.asarray(data), ACT, OBS)
    assert back.key == (123456789, 42, 7)
    assert back.terminated and not back.truncated and back.done
    np.testing.assert_array_equal(back.action, msg.action)
    np.testing.assert_array_equal(back.observation, msg.observation)
    assert back.reward == pytest.approx(msg.reward)
    assert [label for label, _ in layout_sizes(ACT, OBS)] == list(LAYOUT_LABELS)
    assert sum(size for _, size in layout_sizes(ACT, OBS)) == len(data)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (np.zeros(HEADER_SIZE + ACT + OBS - 1), "expected"),
        (np.r_[-1.0, np.zeros(HEADER_SIZE + ACT + OBS - 1)], "key"),
    ],
)
def test_decode_rejects_malformed(data, error):
    with pytest.raises(ValueError, match=error):
        decode(data, ACT, OBS)


def test_consecutive_steps_pair_with_the_echoed_action():
    assembler = TransitionAssembler()
    first, second = make(1, 0, 0), make(1, 0, 1)
    assert assembler.push("w", first) == (Verdict.EPISODE_START, None)
    verdict, transition = assembler.push("w", second)
    assert verdict is Verdict.TRANSITION
    np.testing.assert_array_equal(transition.obs, first.observation)
    np.testing.assert_array_equal(transition.action, second.action)  # applied action of step k
    np.testing.assert_array_equal(transition.next_obs, second.observation)
    assert transition.reward == second.reward


def test_duplicates_and_late_messages_are_ignored():
    assembler = TransitionAssembler()
    for step in range(3):
        assembler.push("w", make(1, 0, step))
    assert assembler.push("w", make(1, 0, 2))[0] is Verdict.DUPLICATE
    assert assembler.push("w", make(1, 0, 1))[0] is Verdict.DUPLICATE
    verdict, transition = assembler.push("w", make(1, 0, 3))
    assert verdict is Verdict.TRANSITION
    np.testing.assert_array_equal(transition.obs, make(1, 0, 2).observation)


def test_out_of_order_never_pairs_across_a_gap():
    assembler = TransitionAssembler()
    assembler.push("w", make(1, 0, 0))
    assert assembler.push("w", make(1, 0, 2)) == (Verdict.GAP, None)  # step 1 not yet seen
    assert assembler.push("w", make(1, 0, 1))[0] is Verdict.DUPLICATE  # too late: dropped
    verdict, transition = assembler.push("w", make(1, 0, 3))
    assert verdict is Verdict.TRANSITION
    np.testing.assert_array_equal(transition.obs, make(1, 0, 2).observation)


def test_episode_boundaries_and_stale_episodes():
    assembler = TransitionAssembler()
    assembler.push("w", make(1, 0, 0))
    verdict, transition = assembler.push("w", make(1, 0, 1, done=True))
    assert verdict is Verdict.TRANSITION and transition.terminated
    # Step 0 of the next episode starts fresh: no transition from the terminal observation.
    assert assembler.push("w", make(1, 1, 0)) == (Verdict.EPISODE_START, None)
    assert assembler.push("w", make(1, 0, 2))[0] is Verdict.STALE
    verdict, transition = assembler.push("w", make(1, 1, 1))
    np.testing.assert_array_equal(transition.obs, make(1, 1, 0).observation)


def test_a_restarted_worker_starts_a_new_session_and_old_messages_stay_out():
    assembler = TransitionAssembler()
    assembler.push("w", make(10, 5, 0))
    assembler.push("w", make(10, 5, 1))
    assert assembler.push("w", make(20, 0, 0))[0] is Verdict.EPISODE_START  # restarted: counters reset
    assert assembler.push("w", make(10, 5, 2))[0] is Verdict.STALE  # the retired session
    verdict, transition = assembler.push("w", make(20, 0, 1))
    assert verdict is Verdict.TRANSITION
    np.testing.assert_array_equal(transition.obs, make(20, 0, 0).observation)


def test_workers_never_pair_with_each_other():
    assembler = TransitionAssembler()
    assembler.push("a", make(1, 0, 0, seed=1))
    assembler.push("b", make(1, 0, 0, seed=2))  # same key, other worker
    _, from_a = assembler.push("a", make(1, 0, 1, seed=1))
    _, from_b = assembler.push("b", make(1, 0, 1, seed=2))
    np.testing.assert_array_equal(from_a.obs, make(1, 0, 0, seed=1).observation)
    np.testing.assert_array_equal(from_b.obs, make(1, 0, 0, seed=2).observation)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.permutations(list(range(12))), st.lists(st.integers(0, 11), max_size=6), st.integers(0, 1000))
def test_any_delivery_order_yields_only_true_transitions(order, duplicates, seed):
    """Whatever the delivery order and duplicates, every transition is a real consecutive pair."""
    steps = [make(3, step // 6, step % 6, done=step % 6 == 5, seed=seed) for step in range(12)]
    assembler = TransitionAssembler()
    produced = []
    for index in list(order) + list(duplicates):
        _, transition = assembler.push("w", steps[index])
        if transition is not None:
            produced.append(transition)
    truth = {
        (steps[i].observation.tobytes(), steps[i + 1].observation.tobytes()) for i in range(11) if i % 6 != 5
    }
    pairs = [(t.obs.tobytes(), t.next_obs.tobytes()) for t in produced]
    assert set(pairs) <= truth
    assert len(pairs) == len(set(pairs))  # no transition stored twice
