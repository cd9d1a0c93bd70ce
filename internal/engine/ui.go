package engine

import (
	"io"
	"time"

	"github.com/bake-tool/bake/ui"
)

// buildUI is the ui.UI of one build: every message and output
// line becomes a redacted Event for the run's sink.
type buildUI struct {
	build  string
	sink   func(Event)
	stdout *lineWriter
	stderr *lineWriter
}

var _ ui.UI = (*buildUI)(nil)

func newBuildUI(build string, sink func(Event)) *buildUI {
	u := &buildUI{build: build, sink: sink}
	u.stdout = &lineWriter{emit: func(l string) { u.emit(Event{Type: EventOutput, Stream: "stdout", Message: l}) }}
	u.stderr = &lineWriter{emit: func(l string) { u.emit(Event{Type: EventOutput, Stream: "stderr", Message: l}) }}
	return u
}

func (u *buildUI) emit(e Event) {
	e.Time = time.Now()
	e.Build = u.build
	u.sink(e)
}

func (u *buildUI) Say(msg string) { u.emit(Event{Type: EventMessage, Message: msg}) }
func (u *buildUI) Error(msg string) {
	u.emit(Event{Type: EventMessage, Stream: "stderr", Message: msg})
}
func (u *buildUI) Stdout() io.Writer { return u.stdout }
func (u *buildUI) Stderr() io.Writer { return u.stderr }

func (u *buildUI) flush() {
	u.stdout.Flush()
	u.stderr.Flush()
}
