package shell_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/configtest"
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
