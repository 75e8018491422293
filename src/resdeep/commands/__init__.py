"""Every subcommand\x27s thin entry: parse the command line, then call the package that does the work."""
