"""Pure presentation: breakdowns -> diagnostic statuses and terminal text."""
