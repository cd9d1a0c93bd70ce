package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/redact"
)

// debugLog is the debug log PACKER_LOG / BAKE_LOG turn on: slog records
// at debug level, to stderr or to the file PACKER_LOG_PATH /
// BAKE_LOG_PATH names (created 0600, appended to), every record passed
// through the run's redactor once a template is loaded.
type debugLog struct {
	*slog.Logger
	w *redactingWriter
	f *os.File
}

// openDebugLog returns the debug log the environment asks for; when none
// is asked for its Logger discards everything.
func openDebugLog(environ []string, stderr io.Writer) (*debugLog, error) {
	on := func(k string) bool {
		v, _ := environValue(environ, k)
		return v != "" && v != "0"
	}
	if !on("PACKER_LOG") && !on("BAKE_LOG") {
		return &debugLog{Logger: slog.New(slog.DiscardHandler)}, nil
	}
	d := &debugLog{w: &redactingWriter{w: stderr}}
	p, _ := environValue(environ, "BAKE_LOG_PATH")
	if p == "" {
		p, _ = environValue(environ, "PACKER_LOG_PATH")
	}
	if p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			// A file left by an earlier run keeps its mode: tighten it.
			err = f.Chmod(0o600)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			// The path comes from the environment: not repeated.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("open debug log: %w", err)
		}
		d.f, d.w.w = f, f
	}
	d.Logger = slog.New(slog.NewTextHandler(d.w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return d, nil
}

// setRedactor makes every later record pass through r.
func (d *debugLog) setRedactor(r *redact.Redactor) {
	if d.w != nil {
		d.w.set(r)
	}
}

// event logs one engine event (already redacted) at debug level.
func (d *debugLog) event(e engine.Event) {
	attrs := []slog.Attr{slog.String("type", e.Type)}
	for _, kv := range [][2]string{{"build", e.Build}, {"step", e.Step}, {"stream", e.Stream}, {"status", e.Status},
		{"message", e.Message}, {"error", e.Error}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if e.Elapsed > 0 {
		attrs = append(attrs, slog.Float64("elapsed_seconds", e.Elapsed))
	}
	if e.Artifact != nil {
		attrs = append(attrs, slog.String("artifact", e.Artifact.ID))
	}
	d.LogAttrs(context.Background(), slog.LevelDebug, "engine event", attrs...)
}

// Close closes the log file, if any.
func (d *debugLog) Close() error {
	if d.f == nil {
		return nil
	}
	return d.f.Close()
}

// redactingWriter redacts each write (one slog record) with the current
// redactor before writing it.
type redactingWriter struct {
	mu sync.Mutex
	w  io.Writer
	r  *redact.Redactor
}

func (w *redactingWriter) set(r *redact.Redactor) {
	w.mu.Lock()
	w.r = r
	w.mu.Unlock()
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.w, w.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
