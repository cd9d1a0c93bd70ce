package null_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/builder/null"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/sshd"
	"github.com/bake-tool/bake/provisioners"
)

var opts = builder.Options{RunID: "r1", BuildID: "r1-null.box"}

func newBuilder(t *testing.T, src string) *null.Builder {
	t.Helper()
	var cfg null.Config
	configtest.MustPrepare(t, "null", src, &cfg)
	return null.New(&cfg, opts)
}

func TestNoCommunicator(t *testing.T) {
	b := newBuilder(t, `communicator = "none"`)
	called := false
	art, err := b.Build(t.Context(), logUI{t}, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		called = true
		if comm != nil {
			t.Errorf("communicator %T, want nil", comm)
		}
		want := provisioners.BuildInfo{RunID: "r1", ID: "r1-null.box", Name: "null.box", Type: "null", SourceName: "box"}
		if info != want {
			t.Errorf("info %+v, want %+v", info, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Fatal("hook not called")
	}
	want := &artifacts.Artifact{Builder: "null", Build: "null.box", ID: "null"}
	if art == nil || art.Builder != want.Builder || art.Build != want.Build || art.ID != want.ID {
		t.Errorf("artifact %+v, want %+v", art, want)
	}
}

func TestHookError(t *testing.T) {
	b := newBuilder(t, `communicator = "none"`)
	boom := errors.New("boom")
	art, err := b.Build(t.Context(), logUI{t}, func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error { return boom })
	if !errors.Is(err, boom) || art != nil {
		t.Fatalf("got %v, %v; want the hook's error and no artifact", art, err)
	}
}

func keyFile(t *testing.T, srv *sshd.Server) string {
	p := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(p, srv.PrivateKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSSH(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, method := range []string{"sftp", "scp"} {
		t.Run(method, func(t *testing.T) {
			b := newBuilder(t, fmt.Sprintf(`communicator = "ssh"
ssh_host = %q
ssh_port = %d
ssh_username = "root"
ssh_private_key_file = %q
ssh_timeout = "10s"
ssh_file_transfer_method = %q`, srv.Host, srv.Port, keyFile(t, srv), method))
			var kept provisioners.Communicator
			dir := t.TempDir()
			_, err := b.Build(t.Context(), logUI{t}, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
				kept = comm
				if info.Host != srv.Host || info.Port != srv.Port || info.User != "root" {
					t.Errorf("info %+v", info)
				}
				if err := comm.Upload(ctx, dir+"/f", strings.NewReader("over ssh"), 0o600); err != nil {
					return err
				}
				var out bytes.Buffer
				status, err := comm.Run(ctx, &provisioners.Cmd{Command: "cat " + dir + "/f; whoami", Stdout: &out})
				if err != nil || status != 0 {
					return fmt.Errorf("run: %d %v", status, err)
				}
				if got := out.String(); got != "over sshroot\n" {
					t.Errorf("output %q", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The connection is closed once Build returns.
			if _, err := kept.Run(t.Context(), &provisioners.Cmd{Command: "true"}); err == nil {
				t.Error("the communicator still works after Build")
			}
		})
	}

	t.Run("refused login", func(t *testing.T) {
		b := newBuilder(t, fmt.Sprintf(`communicator = "ssh"
ssh_host = %q
ssh_port = %d
ssh_username = "root"
ssh_password = "wrong"
ssh_timeout = "10s"
ssh_handshake_attempts = 1`, srv.Host, srv.Port))
		called := false
		_, err := b.Build(t.Context(), logUI{t}, func(context.Context, provisioners.Communicator, provisioners.BuildInfo) error {
			called = true
			return nil
		})
		if err == nil || called {
			t.Fatalf("error %v, hook called %v", err, called)
		}
		if !strings.Contains(err.Error(), "connect over SSH") {
			t.Errorf("error %q does not name the step", err)
		}
	})
}

// logUI logs what the builder reports.
type logUI struct{ t *testing.T }

func (u logUI) Say(msg string)    { u.t.Log(msg) }
func (u logUI) Error(msg string)  { u.t.Log("error: " + msg) }
func (u logUI) Stdout() io.Writer { return io.Discard }
func (u logUI) Stderr() io.Writer { return io.Discard }
