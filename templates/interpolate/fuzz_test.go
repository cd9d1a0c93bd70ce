package interpolate

import (
	"errors"
	"strings"
	"testing"
)

// FuzzInterpolate feeds any string to every stage: Check, Eval, Partial
// and Render of what Partial returns. No input may panic, every error is
// an *Error or ErrUnknown, and what Partial returns must parse for Render.
func FuzzInterpolate(f *testing.F) {
	for _, name := range []string{"cases.txt", "partial.txt"} {
		for _, c := range readCases(f, name) {
			f.Add(c[0])
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		ctx := testContext()
		ctx.BuildFields = Fields{"Host", "Port"}
		ctx.Build = map[string]any{"Host": "h", "Port": "22"}
		ctx.UserVariables = map[string]string{"a": "b"}
		ctx.Getenv = func(string) string { return "e" }
		check := func(stage string, err error) {
			var ie *Error
			if err != nil && !errors.As(err, &ie) && !errors.Is(err, ErrUnknown) {
				t.Fatalf("%s: error of type %T: %v", stage, err, err)
			}
		}
		check("Check", Check(s, ctx, amazonFields))
		_, err := Eval(s, ctx)
		check("Eval", err)
		p, err := Partial(s, ctx, amazonFields)
		check("Partial", err)
		if err != nil {
			return
		}
		if _, err := Render(p, amazonData); err != nil {
			check("Render", err)
			if strings.Contains(err.Error(), "invalid {{ }} syntax") {
				t.Fatalf("Partial returned a template Render cannot parse: %q from %q: %v", p, s, err)
			}
		}
	})
}
