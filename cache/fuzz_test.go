package cache

import (
	"encoding/json"
	"testing"
)

// FuzzParseEntry feeds ParseEntry arbitrary index files: it must never
// panic, and what it accepts must be a valid entry that round-trips.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"key":"sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","kind":"docker-step","runId":"r","created":"2026-12-01T00:00:00Z","lastUsed":"2026-12-01T00:00:00Z","ref":"sha256:1","digest":"sha256:1","size":3}`))
	f.Add([]byte(`{"key":"sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","kind":"qemu-disk","ref":"../x","size":1}`))
	f.Add([]byte(`{"key":"md5:1","kind":"ami"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"key":"sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","kind":"ami","ref":"ami-1","size":-1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		if !e.Key.Valid() || e.Ref == "" || e.Size < 0 {
			t.Fatalf("accepted an invalid entry: %+v", e)
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEntry(out)
		if err != nil || e2.Key != e.Key || e2.Ref != e.Ref || e2.Kind != e.Kind {
			t.Fatalf("round trip: %+v %v", e2, err)
		}
	})
}
