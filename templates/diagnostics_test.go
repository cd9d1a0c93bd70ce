package templates

import (
	"strings"
	"testing"
)

// caretsAt returns the caret line WriteDiagnostics writes under a source
// line to underline n characters from byte offset col0 (ASCII, no tabs).
func caretsAt(col0, n int) string {
	return strings.Repeat(" ", 7+col0) + strings.Repeat("^", n) + "\n"
}

// TestDiagnosticsAtEndOfLine renders the diagnostics of templates whose
// error range ends at the end of a line (it used to panic) and checks
// that each names file:line:col and shows the source line, underlined
// just past its end.
func TestDiagnosticsAtEndOfLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		varFiles []string
		want     []string // each must appear in the rendered output
	}{
		{
			name:  "variable default without value",
			files: map[string]string{"t/a.pkr.hcl": "variable \"x\" {\n  default =\n}\n"},
			want:  []string{"on t/a.pkr.hcl:2:12", "    2:   default =\n" + caretsAt(11, 1)},
		},
		{
			name:  "locals block not closed",
			files: map[string]string{"t/a.pkr.hcl": "locals { a = 1\n}\n"},
			want:  []string{"on t/a.pkr.hcl:1:15", "    1: locals { a = 1\n" + caretsAt(14, 1) + "    2: }\n"},
		},
		{
			name: "var file attribute without value",
			files: map[string]string{
				"t/a.pkr.hcl":   "variable \"v\" {\n  type = string\n}\n",
				"v.pkrvars.hcl": "v =",
			},
			varFiles: []string{"v.pkrvars.hcl"},
			want:     []string{"on v.pkrvars.hcl:1:4", "    1: v =\n" + caretsAt(3, 1)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, diags := loadMap(t, tc.files, LoadOptions{VarFiles: tc.varFiles})
			if !diags.HasErrors() {
				t.Fatalf("no error reported")
			}
			var b strings.Builder
			if err := WriteDiagnostics(&b, plan.Files, diags, false, 0, nil); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
