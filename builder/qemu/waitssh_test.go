package qemu

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// TestWaitSSHLogsInOnProbe: once the guest's sshd has sent its banner,
// bake logs in on that very connection, so the server accepts one
// connection from bake rather than a probe and then a login (under TCG
// each costs the guest an sshd fork and session process, about a
// second). With pause_before_connecting the login is a new connection
// made after the pause. The server is a real sshd behind a port forward
// that counts connections, as qemu's would.
func TestWaitSSHLogsInOnProbe(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	base := filepath.Join(t.TempDir(), "base.qcow2")
	if err := os.WriteFile(base, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra string
		want  int64
	}{
		{"banner connection reused", "", 1},
		{"pause_before_connecting", `pause_before_connecting = "100ms"`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port, accepted := countingForward(t, srv.Addr())
			b, _ := newBuilder(t, fmt.Sprintf(`
iso_url      = %q
iso_checksum = "none"
disk_image   = true
ssh_username = "root"
ssh_timeout  = "30s"
boot_wait    = "0s"
%s
`, base, tc.extra), builder.Options{})
			s := &state{
				ui:         newUI(t),
				vm:         &vm{exited: make(chan struct{})},
				port:       &heldPort{Port: port},
				privateKey: srv.PrivateKey,
				console:    filepath.Join(t.TempDir(), "console.log"),
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := b.waitSSH(ctx, s); err != nil {
				t.Fatal(err)
			}
			defer s.comm.Close()
			out, err := run(ctx, t, s.comm, "echo logged-in-as-$(id -un)")
			if err != nil {
				t.Fatal(err)
			}
			if out != "logged-in-as-root\n" {
				t.Errorf("command printed %q", out)
			}
			if n := accepted.Load(); n != tc.want {
				t.Errorf("the server accepted %d connections from bake, want %d", n, tc.want)
			}
		})
	}
}

// countingForward listens on a loopback port and forwards each connection
// to addr, counting them.
func countingForward(t *testing.T, addr string) (int, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() {
					io.Copy(up, c)
					up.Close()
				}()
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, &n
}
