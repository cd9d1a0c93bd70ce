package shell_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/internal/testutil/sshd"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
	"github.com/bake-tool/bake/provisioners/shell"
)

// TestThroughSSH runs the provisioner against a real sshd on loopback,
// with Packer's defaults (remote_folder /tmp, default execute_command).
func TestThroughSSH(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	comm, err := ssh.Connect(t.Context(), ssh.Config{Host: srv.Host, Port: srv.Port, User: sshd.TestUser, Password: sshd.TestPassword, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { comm.Close() })

	var cfg shell.Config
	configtest.MustPrepare(t, "shell", `inline = ["echo \"$MSG as $(whoami)\"", "echo $0"]
environment_vars = ["MSG=it's here"]`, &cfg)
	ui := testui.New(t)
	if err := shell.New(&cfg).Provision(t.Context(), ui, comm, info); err != nil {
		t.Fatal(err)
	}
	out := strings.Split(ui.Text("stdout"), "\n")
	if len(out) != 2 || out[0] != "it's here as "+sshd.TestUser || !strings.HasPrefix(out[1], "/tmp/script_") {
		t.Fatalf("stdout %q", out)
	}
	// The script was removed.
	status, err := comm.Run(t.Context(), &provisioners.Cmd{Command: "test -e " + out[1]})
	if err != nil || status == 0 {
		t.Errorf("%s still there (status %d, %v)", out[1], status, err)
	}

	t.Run("expect_disconnect", func(t *testing.T) {
		// The script kills the sshd process serving its session: the
		// connection drops as in a reboot.
		for _, expect := range []bool{true, false} {
			var cfg shell.Config
			configtest.MustPrepare(t, "shell", fmt.Sprintf("inline = [\"echo going\", \"kill -9 $PPID\", \"sleep 5\"]\nexecute_command = \"chmod +x {{.Path}}; exec {{.Path}}\"\nexpect_disconnect = %v", expect), &cfg)
			err := shell.New(&cfg).Provision(t.Context(), testui.New(t), comm, info)
			if expect && err != nil {
				t.Errorf("expect_disconnect = true: %v", err)
			}
			if !expect && !errors.Is(err, provisioners.ErrDisconnected) {
				t.Errorf("expect_disconnect = false: error %v, want ErrDisconnected", err)
			}
		}
	})
}

// TestTimeoutThroughSSH: a script whose step times out is stopped on the
// machine — its processes are gone when Provision returns, whether sshd
// honours the signal (a user) or not (root) — and the script and the
// environment file are removed all the same.
func TestTimeoutThroughSSH(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, user := range []string{"root", sshd.TestUser} {
		t.Run(user, func(t *testing.T) {
			comm, err := ssh.Connect(t.Context(), ssh.Config{Host: srv.Host, Port: srv.Port, User: user, PrivateKey: srv.PrivateKey, Timeout: 10 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { comm.Close() })
			folder := sshd.UserDir(t, user)
			marker := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano()%1e9)
			var cfg shell.Config
			configtest.MustPrepare(t, "shell", fmt.Sprintf(`inline = ["echo started", "sleep 6%s & sleep 6%s"]
environment_vars = ["SECRET=it's"]
use_env_var_file = true
remote_folder = %q`, marker, marker, folder), &cfg)
			ui := testui.New(t)
			timedOut := errors.New("timed out after 2s (timeout)")
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			go func() {
				for ctx.Err() == nil {
					if _, ok := ui.Find("stdout", "started"); ok {
						cancel(timedOut)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			err = shell.New(&cfg).Provision(ctx, ui, comm, info)
			if !errors.Is(err, timedOut) && !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want the timeout", err)
			}
			// The machine is this host.
			if ps := proctest.WithArg("sleep 6" + marker); len(ps) != 0 {
				t.Errorf("still running after the timeout: %v", ps)
			}
			if left, _ := os.ReadDir(folder); len(left) != 0 {
				t.Errorf("left on the machine: %v", left)
			}
		})
	}
}
