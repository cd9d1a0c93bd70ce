package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/proctest"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/shell"
)

// withContainer runs f against a communicator into a fresh container of
// the base image, which is discarded afterwards.
func withContainer(t *testing.T, f func(ctx context.Context, comm provisioners.Communicator)) {
	t.Helper()
	api := engine(t)
	if h := api.DaemonHost(); !strings.HasPrefix(h, "unix://") {
		t.Fatalf("the engine at %s is not on this host: its processes cannot be seen here", h)
	}
	runID := newRunID(t, api)
	cfg := testConfig()
	cfg.Discard = true
	_, err := New(cfg, testOptions(runID, "run")).Build(testContext(t), newUI(t), func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		f(ctx, comm)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// secretValue returns a value unique to the test that holds the quoting
// hazards a password has, and the part of it that no quoting changes
// (what a search of the command lines looks for).
func secretValue(t *testing.T) (secret, core string) {
	b := make([]byte, 6)
	rand.Read(b)
	core = "pw-" + hex.EncodeToString(b)
	return core + `'"\$x`, core
}

// waitOutput waits until out holds want, and reports (not fails: the
// container must still be removed) when it never does.
func waitOutput(t *testing.T, out *proctest.Buffer, want string) bool {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), want); {
		if time.Now().After(deadline) {
			t.Errorf("no %q in the output after a minute: %q", want, out.String())
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// shellProvisioner is a prepared shell provisioner of the block src.
func shellProvisioner(t *testing.T, src string) *shell.Provisioner {
	t.Helper()
	var cfg shell.Config
	configtest.MustPrepare(t, "shell", src, &cfg)
	return shell.New(&cfg)
}

// containerProcs returns the command lines of the container's processes
// that contain s.
func containerProcs(ctx context.Context, t *testing.T, comm provisioners.Communicator, s string) []string {
	t.Helper()
	root := asRoot(comm)
	root.noAgent = true // no session of its own: its agent would be listed
	out := run(ctx, t, root, `for d in /proc/[0-9]*; do tr '\0' ' ' < "$d/cmdline" 2>/dev/null; echo; done`)
	var found []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) && !strings.Contains(l, "/proc/[0-9]") {
			found = append(found, l)
		}
	}
	return found
}

// TestShellSecretsOffHostCommandLines: while a shell provisioner with a
// secret in environment_vars runs, no process of this host shows the
// secret in its command line, with the variables on the command line
// (Packer's default) or in a file; the script still sees it.
func TestShellSecretsOffHostCommandLines(t *testing.T) {
	withContainer(t, func(ctx context.Context, comm provisioners.Communicator) {
		for _, envFile := range []bool{false, true} {
			secret, core := secretValue(t)
			src := `inline = ["echo \"started $SECRET\"", "sleep 600"]` + "\n" +
				`environment_vars = ["SECRET=` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(secret) + `"]`
			if envFile {
				src += "\nuse_env_var_file = true"
			}
			ui := newUI(t)
			pctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- shellProvisioner(t, src).Provision(pctx, ui, comm, provisioners.BuildInfo{}) }()
			if waitOutput(t, &ui.stdout, "started "+secret) {
				if ps := proctest.WithArg(core); len(ps) != 0 {
					t.Errorf("use_env_var_file = %v: the secret is on the command line of %v", envFile, ps)
				}
			}
			cancel()
			err := <-done
			if err == nil || strings.Contains(err.Error(), core) || strings.Contains(err.Error(), "sleep") {
				t.Errorf("use_env_var_file = %v: error %v", envFile, err)
			}
		}
	})
}

// TestRunCancelEndsTheCommand: when the context of Run ends, the command
// and what it started are gone from the container by the time Run
// returns, and the error names neither the command nor its variables.
func TestRunCancelEndsTheCommand(t *testing.T) {
	withContainer(t, func(ctx context.Context, comm provisioners.Communicator) {
		for _, user := range []string{"", "nobody"} {
			c := asRoot(comm)
			c.user = user
			secret, core := secretValue(t)
			var out proctest.Buffer
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				waitOutput(t, &out, "started")
				cancel()
			}()
			command := "SECRET='" + strings.ReplaceAll(secret, "'", `'"'"'`) + "' sh -c 'echo started; sleep 613 & sleep 614; echo late > /tmp/late'"
			_, err := c.Run(rctx, &provisioners.Cmd{Command: command, Stdout: &out})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("user %q: Run returned %v, want context.Canceled", user, err)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, core) || strings.Contains(msg, "sleep") {
				t.Errorf("user %q: the error shows the command: %s", user, msg)
			}
			if ps := containerProcs(ctx, t, comm, "sleep 61"); len(ps) != 0 {
				t.Errorf("user %q: still running after Run returned: %q", user, ps)
			}
		}
	})
}
