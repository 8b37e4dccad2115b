"""What results become for a reader: the gradebook, feedback in Markdown and HTML, the learning systems'
exports, the terminal's tables, a class's files, and the lesson figures. Each is a function of results."""
