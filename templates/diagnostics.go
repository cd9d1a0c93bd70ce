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
// before it is written (a redactor made of Plan.SensitiveValues), so that
// a sensitive value appearing in a source line or a message is never
// printed.
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

// writeSnippet writes the source lines of r (at most three), numbered,
// with r underlined by carets under its first line.
//
// r may come from any parser, or be synthesised, so it is trusted only as
// far as it agrees with src: the line is r.Start.Line; the underlined
// columns come from the byte offsets when they fall on that line, else
// from the (character) column; and everything is clamped to the line. A
// range that ends at the end of a line, or is empty, still gets one caret,
// just after the text when it points past it.
func writeSnippet(b *strings.Builder, src []byte, r hcl.Range, paint func(code, s string) string) {
	lines := strings.Split(string(src), "\n")
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return
	}
	lineStart := 0 // byte offset of the first line of r in src
	for _, l := range lines[:r.Start.Line-1] {
		lineStart += len(l) + 1
	}
	line := strings.TrimRight(lines[r.Start.Line-1], "\r")
	// offset returns p's byte offset within line, ok false when p's byte
	// offset is not on the line.
	offset := func(p hcl.Pos) (int, bool) {
		o := p.Byte - lineStart
		return o, p.Line == r.Start.Line && o >= 0 && o <= len(line)
	}
	start, ok := offset(r.Start)
	if !ok {
		start = byteOfColumn(line, r.Start.Column)
	}
	end, ok := offset(r.End)
	if !ok {
		end = len(line)
		if r.End.Line == r.Start.Line {
			end = byteOfColumn(line, r.End.Column)
		}
	}
	start = runeStart(line, start)
	end = max(runeStart(line, end), start)
	// Keep tabs so the carets line up under the source text.
	var pad strings.Builder
	for _, c := range line[:start] {
		if c == '\t' {
			pad.WriteRune('\t')
		} else {
			pad.WriteRune(' ')
		}
	}
	carets := strings.Repeat("^", max(utf8.RuneCountInString(line[start:end]), 1))
	fmt.Fprintf(b, "  %3d: %s\n", r.Start.Line, line)
	fmt.Fprintf(b, "       %s%s\n", pad.String(), paint("31", carets))
	for n := r.Start.Line + 1; n <= min(r.End.Line, r.Start.Line+2, len(lines)); n++ {
		fmt.Fprintf(b, "  %3d: %s\n", n, strings.TrimRight(lines[n-1], "\r"))
	}
}

// byteOfColumn returns the byte offset in line of the 1-based character
// column col, clamped to the line.
func byteOfColumn(line string, col int) int {
	if col <= 1 {
		return 0
	}
	n := 1
	for i := range line {
		if n == col {
			return i
		}
		n++
	}
	return len(line)
}

// runeStart returns i clamped to line and moved back to the start of the
// character it falls in.
func runeStart(line string, i int) int {
	i = max(0, min(i, len(line)))
	for i > 0 && i < len(line) && !utf8.RuneStart(line[i]) {
		i--
	}
	return i
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
