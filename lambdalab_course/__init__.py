"""The course tooling on top of the engine: graded checks, reports, the labs pipeline, stack grading."""
