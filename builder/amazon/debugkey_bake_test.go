package amazon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/internal/testutil/bakebin"
)

// TestBakeDebugKeepsKeyPair runs `bake build -debug` against the EC2 test
// server (stdin at its end, so every pause goes on at once). While the
// instance is up the temporary key pair's private key is in the working
// directory as ec2_golden.pem, mode 0600, as Packer's -debug leaves it:
// the provisioner, running on this host through the test's sshd, finds
// it and logs in with it. bake says where it is, and the file is gone
// once the build ends.
func TestBakeDebugKeepsKeyPair(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bake binary")
	}
	srv := startSSHD(t)
	e := newEnv(t, srv, ec2test.Options{})
	dir := t.TempDir()
	template := filepath.Join(dir, "t.pkr.hcl")
	key := filepath.Join(dir, "ec2_golden.pem")
	src := fmt.Sprintf(`
source "amazon-ebs" "golden" {
%s
}

build {
  sources = ["source.amazon-ebs.golden"]
  provisioner "shell" {
    inline = [
      "stat -c %%a %[2]s > %[3]s/mode",
      "ssh -i %[2]s -p %[4]d -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1 echo logged in with the kept key > %[3]s/login",
    ]
  }
}
`, e.hcl("golden-debug", ""), key, dir, srv.Port)
	if err := os.WriteFile(template, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bakebin.Path(t), "build", "-debug", "-color=false", "-manifest", "", template)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &out, strings.NewReader("")
	if err := cmd.Run(); err != nil {
		t.Fatalf("bake build -debug: %v\n%s", err, out.String())
	}
	if mode, _ := os.ReadFile(filepath.Join(dir, "mode")); strings.TrimSpace(string(mode)) != "600" {
		t.Errorf("during the build ec2_golden.pem had mode %q, want 600\n%s", mode, out.String())
	}
	if login, _ := os.ReadFile(filepath.Join(dir, "login")); !strings.Contains(string(login), "logged in with the kept key") {
		t.Errorf("could not log in with the kept key (%q)\n%s", login, out.String())
	}
	if !strings.Contains(out.String(), "temporary SSH key is kept in ec2_golden.pem") {
		t.Errorf("bake did not say where the key is:\n%s", out.String())
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Errorf("ec2_golden.pem remains after the build (%v)", err)
	}
	if strings.Contains(out.String(), "PRIVATE KEY") {
		t.Errorf("the key reached the output:\n%s", out.String())
	}
}
