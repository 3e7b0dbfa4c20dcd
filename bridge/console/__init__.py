"""The operator console: static HTML, CSS and JavaScript served by the bridge at /console."""
