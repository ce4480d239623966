"""identifier_match: the candidate is exactly the expected identifier (case-sensitive, unlike
exact_answer's normalisation, since `Name` and `name` are different members in Python)."""
from __future__ import annotations

from pipeline.core.types import Candidate, Task, Verdict


class IdentifierMatchVerifier:
    name = "identifier_match"

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        expected = (task.answer or "").strip()
        return [self._judge(task, candidate, expected) for candidate in candidates]

    def _judge(self, task: Task, candidate: Candidate, expected: str) -> Verdict:
        if not expected:
            return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name, passed=False,
                           error=f"task {task.id!r} has no expected identifier in Task.answer")
        match = candidate.content.strip() == expected
        return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name, passed=match,
                       score=float(match), details={"expected": expected, "got": candidate.content.strip()})
