package templates

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// manyLocals returns a template with n locals, each but the first
// referring to the one before, and a build that uses the last.
func manyLocals(n int) string {
	var b strings.Builder
	b.WriteString("variable \"base\" {\n  default = 1\n}\nlocals {\n  l0 = var.base\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  l%d = local.l%d + 1\n", i, i-1)
	}
	fmt.Fprintf(&b, "}\nsource \"box\" \"x\" {\n  image = \"img-${local.l%d}\"\n}\n", n-1)
	b.WriteString("build {\n  sources = [\"source.box.x\"]\n}\n")
	return b.String()
}

// BenchmarkLoadLocals validates templates with 1,000 and 8,000 chained
// locals: the time per load grows linearly with their number.
func BenchmarkLoadLocals(b *testing.B) {
	for _, n := range []int{1000, 8000} {
		fsys := fstest.MapFS{"t.pkr.hcl": {Data: []byte(manyLocals(n))}}
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				plan, diags := Load("t.pkr.hcl", LoadOptions{Kinds: testKinds(), FS: fsys})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if len(plan.Locals) != n {
					b.Fatalf("%d locals, want %d", len(plan.Locals), n)
				}
			}
		})
	}
}

// TestLocalsScaleLinearly loads 1,000 and 4,000 chained locals and
// compares the memory each load allocates (a count, not a time, so a
// loaded machine does not change it): four times the locals must cost
// about four times as much, not sixteen as when every local was
// evaluated in a context holding all the others.
func TestLocalsScaleLinearly(t *testing.T) {
	alloc := func(n int) uint64 {
		fsys := fstest.MapFS{"t.pkr.hcl": {Data: []byte(manyLocals(n))}}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, diags := Load("t.pkr.hcl", LoadOptions{Kinds: testKinds(), FS: fsys})
		runtime.ReadMemStats(&after)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := alloc(1000), alloc(4000)
	t.Logf("1,000 locals: %d bytes; 4,000: %d bytes", small, large)
	if ratio := float64(large) / float64(small); ratio > 6 {
		t.Errorf("4,000 locals allocate %.1f times as much as 1,000 (%d and %d bytes): evaluation is not linear", ratio, large, small)
	}
}
