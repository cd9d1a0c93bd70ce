package testui

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bake-tool/bake/ui"
)

// Line is one recorded message or output line.
type Line struct {
	Stream string // "say", "error", "stdout" or "stderr"
	Text   string
	At     time.Time
}

// UI records everything a provisioner reports; it also logs it to t.
type UI struct {
	t     testing.TB
	mu    sync.Mutex
	lines []Line
	out   *lineWriter
	err   *lineWriter
}

var _ ui.UI = (*UI)(nil)

// New returns a UI that also logs each line to t (t may be nil).
func New(t testing.TB) *UI {
	u := &UI{t: t}
	u.out = &lineWriter{u: u, stream: "stdout"}
	u.err = &lineWriter{u: u, stream: "stderr"}
	return u
}

func (u *UI) add(stream, text string) {
	u.mu.Lock()
	u.lines = append(u.lines, Line{Stream: stream, Text: text, At: time.Now()})
	u.mu.Unlock()
	if u.t != nil {
		u.t.Logf("%s: %s", stream, text)
	}
}

// Say records msg.
func (u *UI) Say(msg string) { u.add("say", msg) }

// Error records msg.
func (u *UI) Error(msg string) { u.add("error", msg) }

// Stdout returns a writer that records each complete line.
func (u *UI) Stdout() io.Writer { return u.out }

// Stderr returns a writer that records each complete line.
func (u *UI) Stderr() io.Writer { return u.err }

// Lines returns what was recorded so far, including unterminated output.
func (u *UI) Lines() []Line {
	u.out.flush()
	u.err.flush()
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Line(nil), u.lines...)
}

// Text returns the recorded lines of stream joined with "\n".
func (u *UI) Text(stream string) string {
	var s []string
	for _, l := range u.Lines() {
		if l.Stream == stream {
			s = append(s, l.Text)
		}
	}
	return strings.Join(s, "\n")
}

// Find returns the first recorded line of stream equal to text.
func (u *UI) Find(stream, text string) (Line, bool) {
	for _, l := range u.Lines() {
		if l.Stream == stream && l.Text == text {
			return l, true
		}
	}
	return Line{}, false
}

type lineWriter struct {
	u      *UI
	stream string
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf.Next(i + 1))
		w.u.add(w.stream, strings.TrimSuffix(line, "\n"))
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.u.add(w.stream, w.buf.String())
		w.buf.Reset()
	}
}
