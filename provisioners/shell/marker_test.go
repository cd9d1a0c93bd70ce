package shell

import (
	"bytes"
	"testing"
)

// TestMarkerWriter: the wrapper's marker line is taken out of the output
// and recorded, whichever way the output is cut into writes; every other
// byte goes through in order.
func TestMarkerWriter(t *testing.T) {
	const marker = "bake-script-not-written-0123456789abcdef"
	tests := []struct {
		in, out string
		seen    bool
	}{
		{"", "", false},
		{"hello\n", "hello\n", false},
		{"cat: /x: Permission denied\n" + marker + "\n", "cat: /x: Permission denied\n", true},
		{marker + "\n", "", true},
		{"bake-script\nbake-script-not-written-\n", "bake-script\nbake-script-not-written-\n", false},
		{marker + "X\n", marker + "X\n", false},
		{"x" + marker + "\n", "x" + marker + "\n", false},
		{"\n\n" + marker + "\nafter\n", "\n\nafter\n", true},
		{"no newline at the end: bake-scr", "no newline at the end: bake-scr", false},
		{"bake-scr", "bake-scr", false}, // held, then flushed
		{marker, marker, false},         // no newline: not the marker line
	}
	for _, tc := range tests {
		for size := 1; size <= len(tc.in)+1; size++ {
			var out bytes.Buffer
			m := &markerWriter{w: &out, marker: []byte(marker + "\n")}
			for in := []byte(tc.in); len(in) > 0; {
				k := min(size, len(in))
				if n, err := m.Write(in[:k]); n != k || err != nil {
					t.Fatalf("Write returned %d, %v", n, err)
				}
				in = in[k:]
			}
			m.flush()
			if out.String() != tc.out || m.seen != tc.seen {
				t.Errorf("%q in writes of %d: out %q seen %v, want %q %v", tc.in, size, out.String(), m.seen, tc.out, tc.seen)
			}
		}
	}
}

// FuzzMarkerWriter checks markerWriter against the plain rule (drop each
// whole line equal to the marker, keep every other byte in order) for any
// output cut into writes of any size.
func FuzzMarkerWriter(f *testing.F) {
	const marker = "bake-script-not-written-0123456789abcdef"
	for _, s := range []string{"", "hello\n", marker + "\n", "err\n" + marker + "\n", "bake-scr", marker, "\n" + marker + "\nx\n" + marker + "x\n"} {
		f.Add(s, uint8(1))
		f.Add(s, uint8(7))
	}
	f.Fuzz(func(t *testing.T, in string, size uint8) {
		var want bytes.Buffer
		wantSeen := false
		for rest := in; rest != ""; {
			line := rest
			if i := bytes.IndexByte([]byte(rest), '\n'); i >= 0 {
				line = rest[:i+1]
			}
			rest = rest[len(line):]
			if line == marker+"\n" {
				wantSeen = true
				continue
			}
			want.WriteString(line)
		}
		var out bytes.Buffer
		m := &markerWriter{w: &out, marker: []byte(marker + "\n")}
		n := max(int(size), 1)
		for b := []byte(in); len(b) > 0; {
			k := min(n, len(b))
			m.Write(b[:k])
			b = b[k:]
		}
		m.flush()
		if out.String() != want.String() || m.seen != wantSeen {
			t.Errorf("%q in writes of %d: out %q seen %v, want %q %v", in, n, out.String(), m.seen, want.String(), wantSeen)
		}
	})
}
