package engine

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
)

// Event types, as `bake build -json` prints them (one JSON object a line).
const (
	EventRunStarted    = "run_started"
	EventBuildStarted  = "build_started"
	EventStepStarted   = "step_started"
	EventStepFinished  = "step_finished"
	EventStepFailed    = "step_failed"
	EventCleanup       = "cleanup"
	EventLeft          = "left_behind"
	EventMessage       = "message"
	EventOutput        = "output"
	EventWaiting       = "waiting"
	EventArtifact      = "artifact"
	EventBuildFinished = "build_finished"
	EventError         = "error"
	EventRunFinished   = "run_finished"
)

// Event is one thing that happened during a run. Every text field has had
// sensitive values redacted before a sink sees it.
type Event struct {
	Time     time.Time           `json:"time"`
	Type     string              `json:"type"`
	Build    string              `json:"build,omitempty"`
	Step     string              `json:"step,omitempty"`
	Stream   string              `json:"stream,omitempty"` // "stdout" or "stderr" for output
	Message  string              `json:"message,omitempty"`
	Status   string              `json:"status,omitempty"` // build_finished: succeeded|failed|cancelled
	Error    string              `json:"error,omitempty"`
	Elapsed  float64             `json:"elapsed_seconds,omitempty"`
	Artifact *artifacts.Artifact `json:"artifact,omitempty"`
}

// Sink receives events. It is called from many goroutines at once and
// must not block for long.
type Sink func(Event)

// Redactor replaces sensitive values in text with "<sensitive>".
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for values; empty and very short values
// (under 3 bytes, which would blank out ordinary text) are ignored.
func NewRedactor(values []string) *Redactor {
	var pairs []string
	for _, v := range values {
		if len(v) < 3 {
			continue
		}
		pairs = append(pairs, v, "<sensitive>")
	}
	if len(pairs) == 0 {
		return &Redactor{}
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String redacts s.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil || s == "" {
		return s
	}
	return r.r.Replace(s)
}

// Event redacts every text field of e.
func (r *Redactor) Event(e Event) Event {
	e.Message = r.String(e.Message)
	e.Error = r.String(e.Error)
	e.Step = r.String(e.Step)
	if e.Artifact != nil {
		a := *e.Artifact
		a.ID = r.String(a.ID)
		e.Artifact = &a
	}
	return e
}

// lineWriter turns a byte stream into one call per line, as the bytes
// arrive; a partial last line is emitted by Flush.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line string)
}

var _ io.Writer = (*lineWriter)(nil)

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		w.emit(line)
	}
	// A runaway line without newlines is emitted in pieces.
	if len(w.buf) > 64<<10 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// Flush emits a pending partial line.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
}
