package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/redact"
)

// machineUI writes Packer's machine-readable output (-machine-readable):
// one line per message, `timestamp,target,type,data...`, the timestamp in
// Unix seconds, the target empty for messages that concern no build, and
// in each datum a comma written %!(PACKER_COMMA), a CR \r and a newline
// \n, exactly as Packer 1.9 writes them, so that wrappers that parse
// Packer's output read bake's. Every datum goes through the program's
// redactor first.
type machineUI struct {
	mu     sync.Mutex
	w      io.Writer
	redact *redact.Redactor
	now    func() time.Time
}

func newMachineUI(w io.Writer) *machineUI {
	return &machineUI{w: w, now: time.Now}
}

// machineEscape escapes one datum as Packer does.
func machineEscape(s string) string {
	s = strings.ReplaceAll(s, ",", "%!(PACKER_COMMA)")
	s = strings.ReplaceAll(s, "\r", `\r`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

// machine writes one line of type typ about target ("" for none).
func (m *machineUI) machine(target, typ string, data ...string) {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(m.now().Unix(), 10))
	b.WriteString(",")
	b.WriteString(machineEscape(m.redact.String(target)))
	b.WriteString(",")
	b.WriteString(typ)
	b.WriteString(",")
	for i, d := range data {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(machineEscape(m.redact.String(d)))
	}
	b.WriteString("\n")
	m.mu.Lock()
	io.WriteString(m.w, b.String())
	m.mu.Unlock()
}

// say, message and error are Packer's ui lines.
func (m *machineUI) say(s string)     { m.machine("", "ui", "say", s) }
func (m *machineUI) message(s string) { m.machine("", "ui", "message", s) }
func (m *machineUI) error(s string)   { m.machine("", "ui", "error", s) }

// sayWriter collects text written to it and says it, one ui say line per
// Write with the trailing newline dropped: what a verb prints on stdout
// becomes what Packer's Say of that text would print.
type sayWriter struct{ m *machineUI }

func (s sayWriter) Write(p []byte) (int, error) {
	s.m.say(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// machineRenderer renders a build's events as Packer's machine-readable
// ui lines: "==> build: text" for progress and errors, "    build: text"
// for command output, each under Packer's ui type (say, message, error).
type machineRenderer struct {
	m *machineUI
}

func (r *machineRenderer) event(e engine.Event) {
	prefix := func(marker, text string) string {
		if e.Build == "" {
			return text
		}
		return marker + " " + e.Build + ": " + text
	}
	switch e.Type {
	case engine.EventRunStarted:
		r.m.say(e.Message)
	case engine.EventBuildStarted:
		r.m.say(prefix("==>", "build started"))
	case engine.EventStepStarted:
		r.m.say(prefix("==>", e.Step+"..."))
	case engine.EventStepFailed:
		r.m.error(prefix("==>", e.Step+" failed: "+e.Error))
	case engine.EventCleanup:
		if e.Error != "" {
			r.m.error(prefix("==>", e.Message+": "+e.Error))
		} else if e.Status != "" {
			r.m.say(prefix("==>", e.Message))
		}
	case engine.EventLeft:
		r.m.error(prefix("==>", "left in place: "+e.Message))
	case engine.EventMessage, engine.EventWaiting:
		if e.Stream == "stderr" {
			r.m.error(prefix("==>", e.Message))
		} else {
			r.m.say(prefix("==>", e.Message))
		}
	case engine.EventOutput:
		r.m.message(prefix("   ", e.Message))
	case engine.EventBuildFinished:
		el := time.Duration(e.Elapsed * float64(time.Second)).Round(time.Millisecond)
		if e.Status == engine.StatusSucceeded {
			r.m.say(fmt.Sprintf("Build '%s' finished after %s.", e.Build, el))
		} else {
			r.m.error(fmt.Sprintf("Build '%s' errored after %s: %s", e.Build, el, e.Error))
		}
	case engine.EventError:
		r.m.error(prefix("==>", e.Error))
	}
}

// summary writes the end of a run as Packer's build command does: for
// the failed builds error-count and one error line each (target: the
// build), then for every successful build artifact-count and, per
// artifact, the artifact lines Packer writes (builder-id, id, string,
// files-count, file, end).
func (r *machineRenderer) summary(results []engine.Result) {
	var ok, bad []engine.Result
	for _, res := range results {
		if res.Status == engine.StatusSucceeded {
			ok = append(ok, res)
		} else {
			bad = append(bad, res)
		}
	}
	if len(bad) > 0 {
		r.m.machine("", "error-count", strconv.Itoa(len(bad)))
		r.m.error("\n==> Some builds didn't complete successfully and had errors:")
		for _, res := range bad {
			msg := res.Status
			if res.Err != nil {
				msg = res.Err.Error()
			}
			r.m.machine(res.Name, "error", msg)
			r.m.error(fmt.Sprintf("--> %s: %s", res.Name, msg))
		}
	}
	if len(ok) == 0 {
		r.m.say("\n==> Builds finished but no artifacts were created.")
		return
	}
	r.m.say("\n==> Builds finished. The artifacts of successful builds are:")
	for _, res := range ok {
		r.m.machine(res.Name, "artifact-count", strconv.Itoa(len(res.Artifacts)))
		for i, a := range res.Artifacts {
			n := strconv.Itoa(i)
			r.m.machine(res.Name, "artifact", n, "builder-id", packerBuilderID(a))
			r.m.machine(res.Name, "artifact", n, "id", a.ID)
			r.m.machine(res.Name, "artifact", n, "string", a.String())
			r.m.machine(res.Name, "artifact", n, "files-count", strconv.Itoa(len(a.Files)))
			for fi, f := range a.Files {
				r.m.machine(res.Name, "artifact", n, "file", strconv.Itoa(fi), f)
			}
			r.m.machine(res.Name, "artifact", n, "end")
			r.m.say(fmt.Sprintf("--> %s: %s", res.Name, a.String()))
		}
	}
}

// packerBuilderID returns the builder id Packer gives the artifact of the
// same kind, which wrappers compare against ("mitchellh.amazonebs"); a
// kind Packer has no id for gets "bake.<kind>".
func packerBuilderID(a *artifacts.Artifact) string {
	switch a.Builder {
	case "docker":
		// Packer's docker builder: a committed image is an "import"
		// artifact, an export_path tar a plain docker one.
		if len(a.Files) > 0 {
			return "packer.docker"
		}
		return "packer.post-processor.docker-import"
	case "amazon-ebs":
		return "mitchellh.amazonebs"
	case "qemu":
		return "transcend.qemu"
	case "null":
		return "fe.null"
	case "docker-push", "docker-import":
		return "packer.post-processor.docker-import"
	case "docker-tag", "docker-save", "manifest", "checksum", "compress", "shell-local", "artifice":
		return "packer.post-processor." + a.Builder
	}
	return "bake." + a.Builder
}

// machineDiagnostics says diagnostics text as Packer's -machine-readable
// validate does: errors as one ui error line, warnings as ui say.
func machineDiagnostics(m *machineUI, text []byte, isErr bool) {
	text = bytes.TrimRight(text, "\n")
	if len(text) == 0 {
		return
	}
	if isErr {
		m.error(string(text))
	} else {
		m.say(string(text))
	}
}
