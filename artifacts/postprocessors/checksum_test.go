package postprocessors

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
)

// TestChecksumGNU writes checksums for every type and has coreutils check
// them, as a user would: `cd dir && sha256sum -c file`.
func TestChecksumGNU(t *testing.T) {
	dir := t.TempDir()
	files := []string{
		filepath.Join(dir, "output-qemu", "disk.qcow2"),
		filepath.Join(dir, "output-qemu", "name with spaces.img"),
		filepath.Join(dir, "output-qemu", `back\slash.img`),
	}
	os.MkdirAll(filepath.Join(dir, "output-qemu"), 0o755)
	for i, f := range files {
		os.WriteFile(f, []byte(strings.Repeat("x", 1000*i+1)), 0o644)
	}
	in := &artifacts.Artifact{Builder: "qemu", Build: "qemu.web", ID: "disk", Files: files}
	cfg := &ChecksumConfig{
		ChecksumTypes: []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"},
		Output:        filepath.Join(dir, "sums", "{{.BuildName}}_{{.BuilderType}}.{{.ChecksumType}}"),
	}
	out, keep, err := NewChecksum(cfg, RunContext{}).PostProcess(context.Background(), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if !keep || len(out.Files) != 6 {
		t.Fatalf("keep %v, files %v", keep, out.Files)
	}
	for i, typ := range cfg.ChecksumTypes {
		want := filepath.Join(dir, "sums", "web_qemu."+typ)
		if out.Files[i] != want {
			t.Errorf("output %q, want %q", out.Files[i], want)
		}
		tool := typ + "sum"
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed", tool)
		}
		cmd := exec.Command(tool, "-c", "--strict", filepath.Base(want))
		cmd.Dir = filepath.Dir(want)
		if b, err := cmd.CombinedOutput(); err != nil {
			data, _ := os.ReadFile(want)
			t.Errorf("%s -c refused the file: %v\n%s\nfile:\n%s", tool, err, b, data)
		}
	}

	// A second run with a changed file replaces its line; sha256sum -c
	// still accepts the file, with one line per artifact file.
	os.WriteFile(files[0], []byte("changed"), 0o644)
	if _, _, err := NewChecksum(cfg, RunContext{}).PostProcess(context.Background(), nil, in); err != nil {
		t.Fatal(err)
	}
	sumFile := filepath.Join(dir, "sums", "web_qemu.sha256")
	cmd := exec.Command("sha256sum", "-c", "--strict", filepath.Base(sumFile))
	cmd.Dir = filepath.Dir(sumFile)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c after an update: %v\n%s", err, b)
	}
	data, _ := os.ReadFile(sumFile)
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Errorf("%d lines after an update, want 3:\n%s", n, data)
	}
	// And a file changed after the checksum fails the check.
	os.WriteFile(files[1], []byte("tampered"), 0o644)
	cmd = exec.Command("sha256sum", "-c", "--strict", filepath.Base(sumFile))
	cmd.Dir = filepath.Dir(sumFile)
	if err := cmd.Run(); err == nil {
		t.Error("sha256sum -c accepted a changed file")
	}
}

func TestChecksumDefaults(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.tar")
	os.WriteFile(f, []byte("a"), 0o644)
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	in := &artifacts.Artifact{Builder: "docker", Build: "docker.ubuntu", Files: []string{f}}
	out, _, err := NewChecksum(&ChecksumConfig{}, RunContext{}).PostProcess(context.Background(), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 1 || out.Files[0] != "packer_ubuntu_docker_md5.checksum" {
		t.Fatalf("default output: %v", out.Files)
	}
	data, _ := os.ReadFile(filepath.Join(dir, out.Files[0]))
	if string(data) != "0cc175b9c0f1b6a831c399e269772661\ta.tar\n" { // as Packer writes it
		t.Errorf("md5 line %q", data)
	}

	bad := &ChecksumConfig{Output: "{{.Nope}}"}
	if _, _, err := NewChecksum(bad, RunContext{}).PostProcess(context.Background(), nil, in); err == nil {
		t.Error("unknown template field accepted")
	}
}
