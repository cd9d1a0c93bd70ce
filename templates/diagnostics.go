package templates

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// WriteDiagnostics writes each diagnostic as
//
//	Error: Unsupported argument
//
//	  on docker.pkr.hcl line 4, in source "docker" "x":
//	   4:   comit = true
//
//	An argument named "comit" is not expected here. Did you mean "commit"?
//
// with the range underlined (coloured when color is set) and text wrapped
// at width (0: no wrapping). redact, when not nil, is applied to the text
// before it is written (Plan.Redact), so a sensitive value that shows up in
// a source line or an expression's value is never printed.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool, width uint, redact func(string) string) error {
	var buf bytes.Buffer
	dw := hcl.NewDiagnosticTextWriter(&buf, files, width, color)
	for _, d := range diags {
		if err := dw.WriteDiagnostic(d); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
	}
	out := buf.String()
	if redact != nil {
		out = redact(out)
	}
	_, err := io.WriteString(w, out)
	return err
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
