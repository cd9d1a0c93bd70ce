package docker

import (
	"strings"
	"testing"
)

// FuzzLoadError feeds loadError arbitrary engine answers to an image
// load: it must never panic, and an answer with an "error" field must be
// an error that carries it.
func FuzzLoadError(f *testing.F) {
	f.Add(`{"stream":"Loaded image: bake-cache:abc\n"}`)
	f.Add(`{"errorDetail":{"message":"no space"},"error":"no space"}`)
	f.Add(`{"stream":"x"}{"error":"second"}`)
	f.Add(`{"stream":`)
	f.Add(``)
	f.Add(`{"error":"boom"}`)
	f.Fuzz(func(t *testing.T, s string) {
		err := loadError(strings.NewReader(s))
		if strings.Contains(s, `"error":"boom"`) && !strings.HasPrefix(s, `{"error":"boom"}`) {
			return // may come after a malformed object
		}
		if strings.HasPrefix(s, `{"error":"boom"}`) && (err == nil || err.Error() != "boom") {
			t.Fatalf("loadError(%q) = %v, want boom", s, err)
		}
	})
}
