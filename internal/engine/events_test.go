package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/ui"
)

// TestEventsRedactEveryEncoding reproduces issue 10's escapes at the
// engine: a key a script prints line by line, a password inside a
// Go-quoted command line in an error, and a short value that must not eat
// unrelated digits.
func TestEventsRedactEveryEncoding(t *testing.T) {
	pemBytes, err := os.ReadFile("../redact/testdata/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	pem := string(pemBytes)
	const password = `p'a"s\s w$rd` + "`x"
	const pin = "3"
	h := &harness{}
	p := provStep("shell", func(ctx context.Context, ui ui.UI) error {
		io.WriteString(ui.Stdout(), pem)                    // cat key.pem
		io.WriteString(ui.Stdout(), "43 packages, pin 3\n") // the pin alone is a word here
		ui.Say(fmt.Sprintf("env: %q", "SECRET="+password))
		quoted := "'" + strings.ReplaceAll(password, "'", `'\''`) + "'"
		return fmt.Errorf("run %q: signal: interrupt", "PW="+quoted+" KEY='"+pem+"' /tmp/script.sh")
	})
	Run(context.Background(), []*Job{h.job("a", 0, nil, p)}, Options{Sink: h.sink, Redactor: redact.New([]string{pem, password, pin})})
	var text strings.Builder
	for _, e := range h.events {
		b, _ := json.Marshal(e)
		text.Write(b)
		text.WriteString("\n")
		fmt.Fprintf(&text, "%+v\n", e)
	}
	out := text.String()
	leaks := []string{password, fmt.Sprintf("%q", password)[1 : len(fmt.Sprintf("%q", password))-1], `'\''a"s`, `a\"s\\s`}
	for _, l := range strings.Split(pem, "\n") {
		if len(l) >= 8 {
			leaks = append(leaks, l)
		}
	}
	for _, l := range leaks {
		if strings.Contains(out, l) {
			t.Errorf("%q escaped redaction:\n%s", l, out)
		}
	}
	if !strings.Contains(out, "43 packages, pin <sensitive>") {
		t.Errorf("short value: want \"43 packages, pin <sensitive>\" in the output:\n%s", out)
	}
}

// TestEventRedactsArtifact: an artifact in an event carries no value in
// any of its identifiers.
func TestEventRedactsArtifact(t *testing.T) {
	const secret = "tag-s3cr3t-value"
	e := Event{Type: EventArtifact, Artifact: &artifacts.Artifact{ID: "img:" + secret, Files: []string{"/out/" + secret},
		Items: []artifacts.Item{{ExternalIdentifier: "x:" + secret, URI: "oci://r/x:" + secret, Tags: []string{secret}}},
		State: map[string]string{"image": secret}, Parent: &artifacts.Parent{Ref: "base:" + secret}}}
	orig := *e.Artifact
	got := e.Redact(redact.New([]string{secret}))
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), secret) {
		t.Errorf("secret in %s", b)
	}
	if e.Artifact.ID != orig.ID || e.Artifact.Items[0].URI != orig.Items[0].URI || e.Artifact.State["image"] != secret {
		t.Errorf("redaction changed the build's own artifact: %+v", e.Artifact)
	}
}

// TestRunawayLineNotCutInsideAValue: output without newlines is emitted in
// pieces; a piece ends at white space where there is some, so that a value
// printed across the cut is not split in two pieces that each escape
// redaction.
func TestRunawayLineNotCutInsideAValue(t *testing.T) {
	const secret = "s3cr3t-value-that-must-stay-whole"
	r := redact.New([]string{secret})
	var pieces []string
	w := &lineWriter{emit: func(l string) { pieces = append(pieces, r.String(l)) }}
	// As a stream delivers it: in writes of 1000 bytes, the one that takes
	// the line past 64 KiB ending inside the value.
	text := strings.Repeat("word ", 66000/5)
	text = text[:66000-10] + secret + " and more" + strings.Repeat("z", 64<<10)
	for len(text) > 0 {
		n := min(1000, len(text))
		io.WriteString(w, text[:n])
		text = text[n:]
	}
	w.Flush()
	all := strings.Join(pieces, "")
	for _, part := range []string{secret[:10], secret[len(secret)-10:]} {
		if strings.Contains(all, part) {
			t.Errorf("%q left: the value was cut", part)
		}
	}
	if n := strings.Count(all, "<sensitive>"); n != 1 {
		t.Errorf("%d redactions, want 1", n)
	}
}

// TestRunawayLinePieces: a line without newlines, written at once, comes
// out whole, in pieces of at most 64 KiB.
func TestRunawayLinePieces(t *testing.T) {
	var pieces []string
	w := &lineWriter{emit: func(l string) { pieces = append(pieces, l) }}
	text := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, no white space
	io.WriteString(w, text+"\nnext")
	w.Flush()
	if got := strings.Join(pieces, ""); got != text+"next" {
		t.Fatalf("pieces do not add up to the text (%d bytes, want %d)", len(got), len(text)+4)
	}
	for i, p := range pieces {
		if len(p) > 64<<10 {
			t.Errorf("piece %d is %d bytes", i, len(p))
		}
	}
}
