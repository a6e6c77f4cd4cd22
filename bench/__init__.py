"""`make bench`: overhead, accuracy and scale of rostrace, measured side by side."""
