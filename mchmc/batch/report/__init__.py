"""A batch run's report: the JSONL and CSV files, the HTML page (its data, markup and script),
and the thumbnails it shows."""
