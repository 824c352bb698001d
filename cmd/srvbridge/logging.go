package main

import (
	"io"
	"log/slog"
)

// newLogger builds the process logger. Logs go to stderr so that stdout stays free for
// --help and --version output that scripts may parse.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
