package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bake-tool/bake/internal/engine"
)

// palette colours build prefixes, one per build in order.
var palette = []string{"\x1b[32m", "\x1b[36m", "\x1b[35m", "\x1b[33m", "\x1b[34m", "\x1b[92m", "\x1b[96m", "\x1b[95m"}

const (
	colorReset = "\x1b[0m"
	colorBold  = "\x1b[1m"
	colorRed   = "\x1b[31m"
)

// humanRenderer prints events as Packer users expect: "==> type.name: msg"
// for progress and "    type.name: line" for command output, each build
// in its own colour.
type humanRenderer struct {
	mu        sync.Mutex
	w         io.Writer
	color     bool
	timestamp bool
	colors    map[string]string
	width     int
	lastErr   map[string]string
}

func newHumanRenderer(w io.Writer, color, timestamp bool, builds []string) *humanRenderer {
	h := &humanRenderer{w: w, color: color, timestamp: timestamp, colors: map[string]string{}, lastErr: map[string]string{}}
	for i, b := range builds {
		h.colors[b] = palette[i%len(palette)]
		h.width = max(h.width, len(b))
	}
	return h
}

func (h *humanRenderer) line(build, marker, text string, isErr bool) {
	var b strings.Builder
	if h.timestamp {
		b.WriteString(time.Now().UTC().Format(time.RFC3339))
		b.WriteString(" ")
	}
	prefix := marker + " " + build + ":"
	if build == "" {
		prefix = marker
	}
	if h.color {
		c := h.colors[build]
		if isErr {
			c = colorRed
		}
		if c == "" {
			c = colorBold
		}
		b.WriteString(c + prefix + colorReset)
	} else {
		b.WriteString(prefix)
	}
	if text != "" {
		b.WriteString(" ")
		if h.color && isErr {
			b.WriteString(colorRed + text + colorReset)
		} else {
			b.WriteString(text)
		}
	}
	b.WriteString("\n")
	h.mu.Lock()
	io.WriteString(h.w, b.String())
	h.mu.Unlock()
}

func (h *humanRenderer) event(e engine.Event) {
	switch e.Type {
	case engine.EventRunStarted:
		// The run id is what `bake gc -run-id` and the labels, tags and
		// file names of everything the run creates carry.
		h.line(e.Build, "==>", e.Message, false)
	case engine.EventBuildStarted:
		h.line(e.Build, "==>", "build started", false)
	case engine.EventStepStarted:
		h.line(e.Build, "==>", e.Step+"...", false)
	case engine.EventStepFailed:
		// An outer step fails with its inner step's error: say it once.
		h.mu.Lock()
		last := h.lastErr[e.Build]
		h.lastErr[e.Build] = e.Error
		h.mu.Unlock()
		if last != "" && strings.Contains(e.Error, last) {
			h.line(e.Build, "==>", e.Step+" failed", true)
		} else {
			h.line(e.Build, "==>", fmt.Sprintf("%s failed: %s", e.Step, e.Error), true)
		}
	case engine.EventCleanup:
		// Cleanups after a success are routine; after a failure or an
		// interrupt the user wants to see what was removed.
		if e.Error != "" {
			h.line(e.Build, "==>", e.Message+": "+e.Error, true)
		} else if e.Status != "" {
			h.line(e.Build, "==>", e.Message, false)
		}
	case engine.EventLeft:
		h.line(e.Build, "==>", "left in place: "+e.Message, true)
	case engine.EventMessage, engine.EventWaiting:
		h.line(e.Build, "==>", e.Message, e.Stream == "stderr")
	case engine.EventOutput:
		h.line(e.Build, "   ", e.Message, false)
	case engine.EventArtifact:
		h.line(e.Build, "==>", "artifact: "+e.Message, false)
	case engine.EventBuildFinished:
		el := time.Duration(e.Elapsed * float64(time.Second)).Round(time.Millisecond)
		switch e.Status {
		case engine.StatusSucceeded:
			h.line(e.Build, "==>", fmt.Sprintf("build finished after %s", el), false)
		default:
			h.line(e.Build, "==>", fmt.Sprintf("build %s after %s: %s", e.Status, el, e.Error), true)
		}
	case engine.EventError:
		h.line(e.Build, "==>", e.Error, true)
	}
}

// jsonRenderer writes each event as one JSON object per line.
type jsonRenderer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONRenderer(w io.Writer) *jsonRenderer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<sensitive>" stays readable for jq and grep
	return &jsonRenderer{enc: enc}
}

func (j *jsonRenderer) event(e engine.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(e)
}

// logDir writes one plain-text log file per build into a directory. The
// files are readable by their owner only (0600), and so is the directory
// when bake creates it (0700): events are redacted, but a build's output
// is still nobody else's business.
type logDir struct {
	mu    sync.Mutex
	dir   string
	files map[string]*os.File
	h     map[string]*humanRenderer
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func newLogDir(dir string) (*logDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	return &logDir{dir: dir, files: map[string]*os.File{}, h: map[string]*humanRenderer{}}, nil
}

func (l *logDir) event(e engine.Event) {
	name := e.Build
	if name == "" {
		name = "run"
	}
	l.mu.Lock()
	h, ok := l.h[name]
	if !ok {
		f, err := os.OpenFile(filepath.Join(l.dir, unsafeName.ReplaceAllString(name, "_")+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			// A file left by an earlier run keeps its mode: tighten it.
			err = f.Chmod(0o600)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			l.mu.Unlock()
			return
		}
		l.files[name] = f
		h = newHumanRenderer(f, false, true, nil)
		l.h[name] = h
	}
	l.mu.Unlock()
	h.event(e)
}

func (l *logDir) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for _, f := range l.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
