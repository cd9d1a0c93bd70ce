package docker

import (
	"bytes"
	"fmt"
	"testing"
)

// feedChunks feeds stream to p in chunks of the given sizes (cycled) and
// returns what it passed on, stopping at the end line.
func feedChunks(p *endParser, stream []byte, sizes []byte) (out []byte, err error) {
	for i := 0; len(stream) > 0 && !p.done; i++ {
		n := len(stream)
		if len(sizes) > 0 {
			n = min(n, int(sizes[i%len(sizes)])+1)
		}
		o, err := p.feed(stream[:n])
		out = append(out, o...)
		if err != nil {
			return out, err
		}
		stream = stream[n:]
	}
	return out, nil
}

// FuzzEndParser feeds the parser of the agent's output a command's output
// followed by its end line, cut into arbitrary chunks: it must pass on
// exactly the output and read the status; and, fed arbitrary bytes, it
// must never panic nor pass on anything that was not in its input, in
// order.
func FuzzEndParser(f *testing.F) {
	f.Add([]byte("hello\n"), uint8(0), []byte{3}, []byte("garbage"))
	f.Add([]byte("no newline"), uint8(7), []byte{0}, []byte{})
	f.Add([]byte("bake-end-"), uint8(255), []byte{1, 8}, []byte("bake-end-mk 3\n"))
	f.Add([]byte("bake-end-m"), uint8(1), []byte{40}, []byte(" 12x\n"))
	f.Add([]byte{}, uint8(42), []byte{}, []byte("bake-end-mk\n"))
	f.Fuzz(func(t *testing.T, output []byte, code uint8, sizes []byte, junk []byte) {
		marker := []byte("bake-end-mk")
		for _, status := range []bool{true, false} {
			// Arbitrary input: output only ever passes on a prefix of
			// the stream before any end line.
			p := &endParser{marker: marker, status: status}
			out, _ := feedChunks(p, append(append([]byte(nil), output...), junk...), sizes)
			if !bytes.HasPrefix(append(output, junk...), out) {
				t.Fatalf("passed on %q, not a prefix of the input", out)
			}
			if bytes.Contains(output, marker) {
				continue
			}
			end := "\n"
			if status {
				end = fmt.Sprintf(" %d\n", code)
			}
			stream := append(append(append(append([]byte(nil), output...), marker...), end...), junk...)
			p = &endParser{marker: marker, status: status}
			out, err := feedChunks(p, stream, sizes)
			if err != nil || !p.done {
				t.Fatalf("status %v: %q: done %v, err %v", status, stream, p.done, err)
			}
			if !bytes.Equal(out, output) {
				t.Fatalf("status %v: passed on %q, want %q", status, out, output)
			}
			if status && p.code != int(code) {
				t.Fatalf("code %d, want %d", p.code, code)
			}
		}
	})
}

// TestEndParserRejects: a malformed end line is an error, not a status.
func TestEndParserRejects(t *testing.T) {
	for _, tail := range []string{" x\n", " 256\n", " -1\n", "7\n", " 1 2\n", " 0000000000000000000001\n", " +1\n"} {
		p := &endParser{marker: []byte("M"), status: true}
		if _, err := p.feed([]byte("outM" + tail)); err == nil {
			t.Errorf("end line M%q: status %d, no error", tail, p.code)
		}
	}
	p := &endParser{marker: []byte("M")}
	if _, err := p.feed([]byte("M 0\n")); err == nil {
		t.Error("stderr end line with a status: no error")
	}
}

// TestEncodeStdin: the lines are printable ASCII, none starts with "-",
// and no "%" or "\" stands alone (printf would read a directive).
func TestEncodeStdin(t *testing.T) {
	data := make([]byte, 0, 2048)
	for i := range 2048 {
		data = append(data, byte(i*7))
	}
	data = append(data, "-%\\-"...)
	var buf bytes.Buffer
	n := encodeStdin(&buf, data)
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if n != len(lines) || n != (len(data)+511)/512 {
		t.Fatalf("%d lines, counted %d", len(lines), n)
	}
	for _, l := range lines {
		if len(l) == 0 || l[0] == '-' {
			t.Errorf("line %q", l)
		}
		for _, b := range l {
			if b < 0x20 || b >= 0x7f {
				t.Fatalf("byte %#x in line %q", b, l)
			}
		}
	}
}
