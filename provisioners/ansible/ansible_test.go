package ansible

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator/sshproxy"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestDockerThroughProxy is the end-to-end build: docker + ansible
// through bake's proxy, with a role, a template, a handler, become, a
// variable from extra_arguments and a role ansible-galaxy installs from a
// local path; the result is checked inside the committed image.
func TestDockerThroughProxy(t *testing.T) {
	needAnsible(t)
	cli := testenv.Docker(t, testenv.AnsibleImage())
	ctx := testContext(t)
	runID := newRunID(t, cli)

	dir := t.TempDir()
	tarball := tarRole(t, testdata(t, "galaxy/greeter"), dir)
	req := filepath.Join(dir, "requirements.yml")
	if err := os.WriteFile(req, []byte(fmt.Sprintf("roles:\n  - name: greeter\n    src: file://%s\n", tarball)), 0o644); err != nil {
		t.Fatal(err)
	}
	galaxyRoles := filepath.Join(dir, "galaxy-roles")
	cfg := &Config{
		PlaybookFile:   testdata(t, "site.yml"),
		ExtraArguments: []string{"-e", "greeting=hello-from-extra"},
		GalaxyFile:     req,
		RolesPath:      galaxyRoles + ":" + testdata(t, "roles"),
		Groups:         []string{"web"},
	}
	prepare(t, cfg)
	var srv *sshproxy.Server
	p := New(cfg)
	p.started = func(s *sshproxy.Server) {
		srv = s
		assertPrivate(t, runID)
	}
	ui := testui.New(t)
	art, err := build(ctx, t, cli, runID, testenv.AnsibleImage(), true, provision(t, p, ui))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	assertClosed(t, srv)
	for _, want := range []string{"TASK [web : write the motd from a template]", "RUNNING HANDLER [web : mark handled]", "TASK [greeter : galaxy role ran]"} {
		if !strings.Contains(ui.Text("stdout"), "\n"+want+" *") {
			t.Errorf("output has no line %q", want)
		}
	}

	// Inside the resulting image.
	checks := map[string]string{
		"/etc/bake-motd":    "hello-from-extra from default\n",
		"/etc/bake-handler": "handled\n",
		"/etc/bake-galaxy":  "galaxy\n",
		"/etc/bake-become":  "0\n",
	}
	_, err = build(ctx, t, cli, runID, art.ID, false, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
		for path, want := range checks {
			var b strings.Builder
			if err := comm.Download(ctx, path, &b); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if b.String() != want {
				t.Errorf("%s = %q, want %q", path, b.String(), want)
			}
		}
		// No file of Ansible's is left in the image but its own
		// ~/.ansible (it cleans its remote temp files itself).
		var left strings.Builder
		comm.Run(ctx, &provisioners.Cmd{Command: "ls -A /root/.ansible/tmp 2>/dev/null", Stdout: &left})
		if s := strings.TrimSpace(left.String()); s != "" {
			t.Errorf("ansible temp files left in the image: %s", s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("check build: %v", err)
	}
}

// assertPrivate checks, while the provisioner runs, that its temporary
// directory is 0700 and the proxy's client key in it 0600.
func assertPrivate(t *testing.T, runID string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), TempPrefix(runID)+"*"))
	if len(dirs) != 1 {
		t.Fatalf("temporary directories of the run: %v", dirs)
	}
	for path, want := range map[string]os.FileMode{dirs[0]: 0o700, filepath.Join(dirs[0], "id_ed25519"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

// TestInventory: the generated inventory has the host line from the
// template in each group, empty groups, and goes to inventory_directory
// when given.
func TestInventory(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{Groups: []string{"web", "db"}, EmptyGroups: []string{"none"}, InventoryDirectory: dir,
		InventoryFileTemplate: "{{ .HostAlias }} ansible_host={{ .Host }} ansible_port={{ .Port }} u={{ .User }}\n"}
	cfg.setDefaults()
	path, err := New(cfg).writeInventory(t.TempDir(), inventoryData{HostAlias: "default", Host: "127.0.0.1", Port: 2222, User: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("inventory in %s, want %s", filepath.Dir(path), dir)
	}
	b, _ := os.ReadFile(path)
	host := "default ansible_host=127.0.0.1 ansible_port=2222 u=me\n"
	if want := host + "[web]\n" + host + "[db]\n" + host + "[none]\n"; string(b) != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", b, want)
	}
}

// TestUnreachable: with use_proxy = false and nothing listening at the
// machine's address, the step fails naming the host unreachable, and
// leaves no temporary file.
func TestUnreachable(t *testing.T) {
	needAnsible(t)
	ctx := testContext(t)
	runID := "test-unreachable"
	t.Cleanup(func() { assertNoTemp(t, runID) })
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	no := false
	cfg := &Config{PlaybookFile: testdata(t, "ping.yml"), UseProxy: &no}
	prepare(t, cfg)
	info := provisioners.BuildInfo{RunID: runID, Type: "qemu", Host: "127.0.0.1", Port: port, User: "nobody", SSHPrivateKey: "not a key"}
	err = New(cfg).Provision(ctx, testui.New(t), nil, info)
	if err == nil || !strings.Contains(err.Error(), `host default unreachable in task "ping"`) {
		t.Fatalf("err = %v, want the host named unreachable", err)
	}
}

// TestFailures: a failing task and Ctrl-C during a
// play each fail the step with a message naming what failed, and leave
// no proxy listener, container or temporary file.
func TestFailures(t *testing.T) {
	needAnsible(t)
	cli := testenv.Docker(t, testenv.AnsibleImage())

	t.Run("failing task", func(t *testing.T) {
		ctx := testContext(t)
		runID := newRunID(t, cli)
		cfg := &Config{PlaybookFile: testdata(t, "fail.yml")}
		prepare(t, cfg)
		var srv *sshproxy.Server
		p := New(cfg)
		p.started = func(s *sshproxy.Server) { srv = s }
		_, err := build(ctx, t, cli, runID, testenv.AnsibleImage(), false, provision(t, p, testui.New(t)))
		if err == nil || !strings.Contains(err.Error(), `task "this task fails" failed on host default`) {
			t.Fatalf("err = %v, want the task and host named", err)
		}
		assertClosed(t, srv)
	})

	t.Run("cancel during a play", func(t *testing.T) {
		ctx := testContext(t)
		runID := newRunID(t, cli)
		cfg := &Config{PlaybookFile: testdata(t, "sleep.yml")}
		prepare(t, cfg)
		var srv *sshproxy.Server
		p := New(cfg)
		p.started = func(s *sshproxy.Server) { srv = s }
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var inside string
		_, err := build(ctx, t, cli, runID, testenv.AnsibleImage(), false, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
			// Ctrl-C once the task's command runs in the machine.
			go func() {
				for ctx.Err() == nil {
					if status, err := comm.Run(ctx, &provisioners.Cmd{Command: "test -e /tmp/bake-task-started"}); err == nil && status == 0 {
						cancel()
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			err := p.Provision(ctx, testui.New(t), comm, info)
			// The command Ansible ran inside must be gone too.
			var b strings.Builder
			comm.Run(context.Background(), &provisioners.Cmd{Command: `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <"$f"; echo; done`, Stdout: &b})
			inside = b.String()
			if !strings.Contains(inside, "sleep 3600") { // the container's own process
				t.Errorf("could not list the machine's processes: %q", inside)
			}
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want cancelled", err)
		}
		assertClosed(t, srv)
		if strings.Contains(inside, "sleep 300") {
			t.Errorf("the task's command still runs in the machine:\n%s", inside)
		}
	})
}
