package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/internal/gc"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/ui"
)

// sshBuilder stands in for the amazon-ebs and qemu builders: its machine
// is up with a temporary key (or the user's, without a public key), and
// after provisioning it calls paused, as if a user in a -debug pause
// looked for the kept key.
type sshBuilder struct {
	info   provisioners.BuildInfo
	paused func()
}

func (b sshBuilder) Build(ctx context.Context, ui ui.UI, hook builder.Hook) (*artifacts.Artifact, error) {
	if err := hook(ctx, nil, b.info); err != nil {
		return nil, err
	}
	b.paused()
	return &artifacts.Artifact{Builder: b.info.Type, ID: "ami-1"}, nil
}

// TestDebugKeepsTemporaryKey: under -debug the temporary SSH key of a
// build is written where Packer writes it (ec2_NAME.pem for amazon-ebs,
// NAME.pem for qemu), readable by its owner only, said where, and removed
// once the build ends; a user's own key (no temporary pair) is not
// written, and a file of the same name is left alone.
func TestDebugKeepsTemporaryKey(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name, typ string
		public    string
		existing  bool
		file      string // the key file expected, "" for none
	}{
		{name: "amazon-ebs", typ: "amazon-ebs", public: "ssh-ed25519 AAAA", file: "ec2_web.pem"},
		{name: "qemu", typ: "qemu", public: "ssh-ed25519 AAAA", file: "web.pem"},
		{name: "user's key", typ: "qemu", file: ""},
		{name: "name taken", typ: "amazon-ebs", public: "ssh-ed25519 AAAA", existing: true, file: "ec2_web-*.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.existing {
				os.WriteFile(filepath.Join(dir, "ec2_web.pem"), []byte("mine"), 0o644)
			}
			var mu sync.Mutex
			var msgs []string
			sink := func(e engine.Event) {
				mu.Lock()
				defer mu.Unlock()
				if e.Type == engine.EventMessage {
					msgs = append(msgs, e.Message)
				}
			}
			var during []byte
			var mode os.FileMode
			var readErr error = os.ErrNotExist
			paused := func() {
				// The kept key: the file of that name, or with "-*" before
				// ".pem" when the name was taken.
				m, _ := filepath.Glob(filepath.Join(dir, tc.file))
				if len(m) != 1 || tc.file == "" {
					return
				}
				during, readErr = os.ReadFile(m[0])
				if fi, err := os.Stat(m[0]); err == nil {
					mode = fi.Mode().Perm()
				}
			}
			info := provisioners.BuildInfo{Type: tc.typ, SourceName: "web", Host: "127.0.0.1", Port: 2222, User: "admin",
				SSHPrivateKey: key, SSHPublicKey: tc.public}
			job := &engine.Job{Name: tc.typ + ".web", Type: tc.typ,
				NewBuilder: func(builder.Options) (builder.Builder, error) { return sshBuilder{info: info, paused: paused}, nil }}
			opts := engine.Options{Sink: sink}
			opts.DebugKey = (&debugKeys{dir: dir, emit: sink}).keep
			res := engine.Run(context.Background(), []*engine.Job{job}, opts)
			if res[0].Status != engine.StatusSucceeded {
				t.Fatalf("build %s: %v", res[0].Status, res[0].Err)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*.pem"))
			if tc.file == "" {
				if readErr == nil || len(left) != 0 {
					t.Errorf("the user's own key was written: %v", left)
				}
				return
			}
			if readErr != nil || string(during) != key {
				t.Fatalf("during the build the key file %s held %q (%v), want the key", tc.file, during, readErr)
			}
			if mode != 0o600 {
				t.Errorf("key file mode %o, want 600", mode)
			}
			if tc.existing {
				if data, _ := os.ReadFile(filepath.Join(dir, "ec2_web.pem")); string(data) != "mine" || len(left) != 1 {
					t.Errorf("the existing ec2_web.pem was touched (%q) or the kept key remains: %v", data, left)
				}
			} else if len(left) != 0 {
				t.Errorf("the key file remains after the build: %v", left)
			}
			all := strings.Join(msgs, "\n")
			if !strings.Contains(all, "temporary SSH key is kept in") || !strings.Contains(all, "ssh -i") || !strings.Contains(all, "removed the temporary SSH key") {
				t.Errorf("bake did not say where the key is and that it was removed:\n%s", all)
			}
			if strings.Contains(all, "PRIVATE KEY") {
				t.Errorf("the key reached the output:\n%s", all)
			}
		})
	}
}

// TestDebugKeyJournaled: a kept key is pending in the run's journal (so
// bake gc finds it after a crash) until its removal releases it.
func TestDebugKeyJournaled(t *testing.T) {
	dir := t.TempDir()
	j := gc.Journal{Dir: filepath.Join(t.TempDir(), "runs")}
	const run = "0b6c2f1e-0000-4000-8000-000000000001"
	if err := j.Begin(run); err != nil {
		t.Fatal(err)
	}
	d := &debugKeys{dir: dir, emit: func(engine.Event) {}, journal: j, runID: run}
	release := d.keep("qemu.box", provisioners.BuildInfo{Type: "qemu", SourceName: "box", SSHPrivateKey: "KEY"})
	pending := func() []string {
		runs, err := j.Runs()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range runs[run].Pending {
			out = append(out, p.Kind+" "+p.Path)
		}
		return out
	}
	key := filepath.Join(dir, "box.pem")
	if got := pending(); len(got) != 1 || got[0] != "debug SSH key "+key {
		t.Fatalf("journal pending %v, want the key %s", got, key)
	}
	release()
	if got := pending(); len(got) != 0 {
		t.Errorf("journal pending after the key's removal: %v", got)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Errorf("key file: %v", err)
	}
}
