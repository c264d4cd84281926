"""SortedKeys against a sorted Python list."""

from __future__ import annotations

from bisect import bisect_right

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from matcher.sorted_keys import SortedKeys

keys = st.integers(0, 200)


class SortedKeysMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.keys = SortedKeys(block_size=3)
        self.model: list[int] = []

    @rule(key=keys)
    def add(self, key: int) -> None:
        self.keys.add(key)
        self.model.append(key)
        self.model.sort()

    @rule(key=keys)
    def discard(self, key: int) -> None:
        present = key in self.model
        assert self.keys.discard(key) == present
        if present:
            self.model.remove(key)

    @rule(threshold=st.integers(-1, 201))
    def pop_upto(self, threshold: int) -> None:
        cut = bisect_right(self.model, threshold)
        assert self.keys.pop_upto(threshold) == self.model[:cut]
        del self.model[:cut]

    @rule(new=st.lists(keys, max_size=30))
    def insert_sorted(self, new: list[int]) -> None:
        self.keys.insert_sorted(sorted(new))
        self.model = sorted(self.model + new)

    @rule(new=st.lists(keys, max_size=30))
    def extend_sorted(self, new: list[int]) -> None:
        self.keys.extend_sorted(new)
        self.model = sorted(self.model + new)

    @invariant()
    def matches_the_model(self) -> None:
        self.keys._check()
        assert list(self.keys) == self.model
        assert len(self.keys) == len(self.model)
        assert self.keys.first == (self.model[0] if self.model else None)


TestSortedKeys = SortedKeysMachine.TestCase
TestSortedKeys.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
