"""Training, evaluation and corpus tooling (imported only by the commands that need them)."""
