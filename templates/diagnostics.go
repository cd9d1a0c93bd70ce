package templates

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mitchellh/go-wordwrap"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// WriteDiagnostics writes each diagnostic as
//
//	Error: Unsupported argument
//
//	  on docker.pkr.hcl:4:3, in source "docker" "x":
//	   4:   comit = true
//	          ^^^^^
//
//	An argument named "comit" is not expected here. Did you mean "commit"?
//
// the range underlined (in red when color is set) and the detail wrapped at
// width (0: not wrapped). redact, when not nil, is applied to the text
// before it is written (Plan.Redact), so that a sensitive value appearing in
// a source line or a message is never printed.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool, width uint, redact func(string) string) error {
	var b strings.Builder
	for _, d := range diags {
		writeDiagnostic(&b, files, d, color, width)
	}
	out := b.String()
	if redact != nil {
		out = redact(out)
	}
	if _, err := io.WriteString(w, out); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}

func writeDiagnostic(b *strings.Builder, files map[string]*hcl.File, d *hcl.Diagnostic, color bool, width uint) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	switch d.Severity {
	case hcl.DiagWarning:
		b.WriteString(paint("1;33", "Warning: ") + paint("1", d.Summary) + "\n")
	default:
		b.WriteString(paint("1;31", "Error: ") + paint("1", d.Summary) + "\n")
	}
	if r := d.Subject; r != nil {
		fmt.Fprintf(b, "\n  on %s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
		f := files[r.Filename]
		if f != nil && f.Nav != nil {
			if cs, ok := f.Nav.(interface{ ContextString(offset int) string }); ok {
				if c := cs.ContextString(r.Start.Byte); c != "" {
					fmt.Fprintf(b, ", in %s", c)
				}
			}
		}
		b.WriteString(":\n")
		if f != nil {
			writeSnippet(b, f.Bytes, *r, paint)
		}
	}
	if d.Detail != "" {
		b.WriteString("\n")
		detail := d.Detail
		if width > 0 {
			detail = wordwrap.WrapString(detail, width)
		}
		b.WriteString(detail + "\n")
	}
	b.WriteString("\n")
}

// writeSnippet writes the source lines of r, numbered, with r underlined
// by carets on its first line.
func writeSnippet(b *strings.Builder, src []byte, r hcl.Range, paint func(code, s string) string) {
	lines := strings.Split(string(src), "\n")
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return
	}
	last := min(r.End.Line, r.Start.Line+2, len(lines))
	for n := r.Start.Line; n <= last; n++ {
		line := strings.TrimRight(lines[n-1], "\r")
		fmt.Fprintf(b, "  %3d: %s\n", n, line)
	}
	line := lines[r.Start.Line-1]
	startCol := r.Start.Column - 1
	endCol := len(line)
	if r.End.Line == r.Start.Line {
		endCol = r.End.Column - 1
	}
	if startCol < 0 || startCol > len(line) {
		return
	}
	endCol = max(min(endCol, len(line)), startCol+1)
	// Keep tabs so the carets line up under the source text.
	var pad strings.Builder
	for _, c := range line[:startCol] {
		if c == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteRune(' ')
		}
	}
	carets := strings.Repeat("^", utf8.RuneCountInString(line[startCol:endCol]))
	fmt.Fprintf(b, "       %s%s\n", pad.String(), paint("31", carets))
}

// Format returns src in the canonical HCL layout (hclwrite.Format), or
// the syntax errors that stop it being formatted.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	_, diags := hclwrite.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// IsFormattable reports whether name is a file bake fmt rewrites: HCL
// templates and var files, not JSON.
func IsFormattable(name string) bool {
	return strings.HasSuffix(name, ".hcl")
}
