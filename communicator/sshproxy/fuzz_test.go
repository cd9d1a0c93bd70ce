package sshproxy

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// fakeChannel is a gossh.Channel reading from in and recording writes.
type fakeChannel struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *fakeChannel) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *fakeChannel) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *fakeChannel) Close() error                { return nil }
func (c *fakeChannel) CloseWrite() error           { return nil }
func (c *fakeChannel) SendRequest(string, bool, []byte) (bool, error) {
	return true, nil
}
func (c *fakeChannel) Stderr() io.ReadWriter { return &c.out }

var _ gossh.Channel = (*fakeChannel)(nil)

// memComm records uploads, under a size limit the sink must respect.
type memComm struct {
	hostComm
	files map[string]int
}

func (m *memComm) Upload(_ context.Context, dst string, src io.Reader, _ fs.FileMode) error {
	n, err := io.Copy(io.Discard, src)
	m.files[dst] = int(n)
	return err
}

// FuzzSCPSink: any byte stream sent to the legacy scp sink ends without
// a panic or a hang, and only uploads below the target directory.
func FuzzSCPSink(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.scp")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		comm := &memComm{files: map[string]int{}}
		s := &Server{comm: comm, ctx: context.Background()}
		s.scpSink(&fakeChannel{in: bytes.NewReader(stream)}, scpCmd{sink: true, dir: true, path: "/target"})
		for p := range comm.files {
			if !strings.HasPrefix(p, "/target/") || strings.Count(p, "/") != 2 || strings.HasSuffix(p, "/..") || strings.HasSuffix(p, "/.") {
				t.Errorf("uploaded outside the target: %q", p)
			}
		}
	})
}

// FuzzParseSCP: parsing any command neither panics nor yields an empty
// path.
func FuzzParseSCP(f *testing.F) {
	for _, s := range []string{"scp -t /tmp/x", "scp -v -d -t -- '/tmp/a b'", "scp -f ~/.ansible/tmp/f", "scp -r -t /", "/bin/sh -c 'echo ~'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, command string) {
		if c, ok := parseSCP(command); ok && c.path == "" {
			t.Errorf("%q parsed with no path", command)
		}
	})
}
