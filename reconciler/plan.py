"""The plan as a value: its items grouped by data entry, what it would change, and the change limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from reconciler.errors import SafetyLimitError
from reconciler.models import Item, Status, by_entry


@dataclass(frozen=True)
class Plan:
    """Every item of a plan, sorted by entry then peak; a saved plan read back is one too."""

    items: tuple[Item, ...]

    @classmethod
    def of(cls, items: Iterable[Item]) -> Plan:
        return cls(tuple(sorted(items, key=lambda item: item.sort_key)))

    @cached_property
    def by_entry(self) -> dict[str, list[Item]]:
        """Every item, grouped by data entry."""
        return by_entry(self.items)

    @cached_property
    def to_patch(self) -> dict[str, list[Item]]:
        """The `change` items, grouped by data entry: the entries an apply visits."""
        return by_entry(item for item in self.items if item.status is Status.CHANGE)

    @property
    def others(self) -> list[Item]:
        """The items an apply leaves as they are: in sync, or an error the plan already saw."""
        return [item for item in self.items if item.status is not Status.CHANGE]

    @property
    def entries(self) -> int:
        return len(self.by_entry)

    @property
    def changes(self) -> int:
        return sum(len(items) for items in self.to_patch.values())

    def over_limit(self, max_changes: int | None, *, where: str = "") -> SafetyLimitError | None:
        """The error that refuses this plan under `--max-changes`, or None when it is within the limit."""
        if max_changes is None or self.changes <= max_changes:
            return None
        return SafetyLimitError(
            f"{self.changes} changes pending{where}, more than --max-changes {max_changes}; nothing was "
            "patched. Review the plan, then raise the limit or apply in smaller steps."
        )
