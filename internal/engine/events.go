package engine

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/redact"
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

// Redact returns e with every text field, and every identifier of its
// artifact, redacted by r; e's artifact itself is left as it was. A nil r
// redacts nothing.
func (e Event) Redact(r *redact.Redactor) Event {
	if r.Empty() {
		return e
	}
	e.Message = r.String(e.Message)
	e.Error = r.String(e.Error)
	e.Step = r.String(e.Step)
	if e.Artifact != nil {
		e.Artifact = redactArtifact(r, e.Artifact)
	}
	return e
}

// redactArtifact returns a redacted copy of a.
func redactArtifact(r *redact.Redactor, a *artifacts.Artifact) *artifacts.Artifact {
	c := *a
	c.ID = r.String(a.ID)
	c.Files = redactAll(r, a.Files)
	c.Items = make([]artifacts.Item, len(a.Items))
	for i, it := range a.Items {
		it.ExternalIdentifier = r.String(it.ExternalIdentifier)
		it.URI = r.String(it.URI)
		it.Tags = redactAll(r, it.Tags)
		it.Path = r.String(it.Path)
		c.Items[i] = it
	}
	if a.Parent != nil {
		p := *a.Parent
		p.Ref = r.String(p.Ref)
		p.DiskPath = r.String(p.DiskPath)
		c.Parent = &p
	}
	if a.State != nil {
		c.State = make(map[string]string, len(a.State))
		for k, v := range a.State {
			c.State[k] = r.String(v)
		}
	}
	return &c
}

func redactAll(r *redact.Redactor, ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.String(s)
	}
	return out
}

// maxPiece is the longest piece of a line a lineWriter emits; longer
// lines come out in several.
const maxPiece = 64 << 10

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
	start := 0
	for {
		i := bytes.IndexByte(w.buf[start:], '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSuffix(w.buf[start:start+i], []byte("\r"))
		w.emit(string(w.pieces(line)))
		start += i + 1
	}
	rest := w.pieces(w.buf[start:])
	w.buf = append(w.buf[:0], rest...)
	return len(p), nil
}

// pieces emits the leading pieces of a line longer than maxPiece and
// returns the rest. Each piece is cut after white space where the second
// half of the piece has some: a piece is redacted on its own, so a value
// cut in two would escape (a value with no white space in it is cut only
// when the text around it has none either).
func (w *lineWriter) pieces(b []byte) []byte {
	for len(b) > maxPiece {
		cut := maxPiece
		if i := bytes.LastIndexAny(b[maxPiece/2:maxPiece], " \t"); i >= 0 {
			cut = maxPiece/2 + i + 1
		}
		w.emit(string(b[:cut]))
		b = b[cut:]
	}
	return b
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
