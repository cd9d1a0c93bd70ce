package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// TestServeUnitVerifies: systemd accepts examples/serve/bake-serve.service
// (systemd-analyze verify prints nothing: no unknown key, no bad value),
// with ExecStart pointing at a real bake binary.
func TestServeUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed (Debian's systemd package)")
	}
	unit, err := os.ReadFile("../../examples/serve/bake-serve.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/bake serve -config /etc/bake/server.hcl") {
		t.Fatalf("the unit does not start bake serve as README says:\n%s", unit)
	}
	path := filepath.Join(t.TempDir(), "bake-serve.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/bake", bakebin.Path(t))), 0o644)
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestServeConfigChecks: examples/serve/server.hcl, which the unit and the
// image read as /etc/bake/server.hcl, passes bake serve -check with its
// pipeline's template.
func TestServeConfigChecks(t *testing.T) {
	code, stdout, stderr := bakeRun(t, nil, "serve", "-check", "-config", "../../examples/serve/server.hcl")
	if code != exitOK || !strings.Contains(stdout, "valid: 1 pipeline(s)") {
		t.Errorf("bake serve -check: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestServeImageRecipe builds examples/serve/image.pkr.hcl with bake (on
// the local Debian base, without its apt step: tests reach no archive)
// and checks the image as `docker run` would use it: bake runs in it, as
// the user bake, with `bake serve -config /etc/bake/server.hcl` as its
// command and port 8080 exposed.
func TestServeImageRecipe(t *testing.T) {
	requireDocker(t)
	cli := testenv.Docker(t, testenv.BaseImage())
	tag := "test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-color=false", "-manifest", "",
		"-var", "base="+testenv.BaseImage(), "-var", "pull=false", "-var", "apt_packages=[]", "-var", "bake_binary="+bakebin.Path(t), "-var", "tag="+tag,
		"../../examples/serve/image.pkr.hcl")
	image := "bake-serve:" + tag
	t.Cleanup(func() { removeImageRef(cli, image) })
	if code != exitOK {
		t.Fatalf("bake build: exit %d\n%s%s", code, stdout, stderr)
	}
	insp, err := cli.ImageInspect(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	c := insp.Config
	if c.User != "bake" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/bake", "serve"}) ||
		!slices.Equal(c.Cmd, []string{"-config", "/etc/bake/server.hcl"}) || c.WorkingDir != "/var/lib/bake" {
		t.Errorf("image config: user %q, entrypoint %q, cmd %q, workdir %q", c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("8080 not exposed: %v", c.ExposedPorts)
	}
	out, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
		"id -un && test -w /var/cache/bake && /usr/local/bin/bake version").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || lines[0] != "bake" || !strings.HasPrefix(lines[1], "bake ") || !strings.Contains(lines[1], "linux/amd64") {
		t.Errorf("in the image: %v\n%s", err, out)
	}
}
