package communicator_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/templates"
)

func newConfig() templates.Config { return new(communicator.Config) }

func TestPrepareRules(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, "null", newConfig, []configtest.Case{
		{Name: "minimal", Src: `ssh_username = "root"`},
		{Name: "key file readable", Src: fmt.Sprintf("ssh_private_key_file = %q", key)},
		{Name: "none", Src: `communicator = "none"`},
		{Src: `communicator = "shh"`, Want: `Did you mean "ssh"?`, Line: 1},
		{Src: `communicator = "winrm"`, Want: "no WinRM communicator", Line: 1},
		{Src: "communicator = \"none\"\nssh_username = \"x\"", Want: `"ssh_username" only applies to the SSH communicator`, Line: 2, Warning: true},
		{Src: "ssh_port = 0", Want: `"ssh_port" must be a TCP port from 1 to 65535, not 0`, Line: 1},
		{Src: "ssh_port = 70000", Want: "not 70000", Line: 1},
		{Name: "bad port said once", Src: "ssh_port = \"ssh\"", Want: "number required", Line: 1},
		{Src: "ssh_bastion_host = \"b\"\nssh_bastion_username = \"u\"\nssh_bastion_port = -1\nssh_bastion_password = \"p\"", Want: `"ssh_bastion_port" must be a TCP port`, Line: 3},
		{Src: "ssh_username = \"u\"\nssh_private_key_file = \"/nonexistent/id_ed25519\"", Want: `there is no file "/nonexistent/id_ed25519"`, Line: 2},
		{Src: fmt.Sprintf("ssh_private_key_file = %q", filepath.Dir(key)), Want: "is a directory, not a file", Line: 1},
		{Src: `ssh_private_key_file = build.SSHPrivateKey`, Want: "Cannot check key file yet", Line: 1, Warning: true},
		{Src: "ssh_file_transfer_method = \"rsync\"", Want: `"rsync" is not a valid value for "ssh_file_transfer_method"; it must be one of "sftp", "scp"`, Line: 1},
		{Src: "ssh_handshake_attempts = 0", Want: `must be at least 1, not 0`, Line: 1},
		{Src: "ssh_timeout = \"0s\"", Want: `"ssh_timeout" must be more than zero`, Line: 1},
		{Src: "ssh_timeout = \"1m\"\nssh_wait_timeout = \"2m\"", Want: `wins over "ssh_timeout" as in Packer`, Line: 2, Warning: true},
		{Src: "ssh_wait_timeout = \"2m\"", Want: "old name", Line: 1, Warning: true},
		{Src: "ssh_keypair_name = \"k\"", Want: `set "ssh_private_key_file" or "ssh_agent_auth = true"`, Line: 1},
		{Name: "keypair with agent", Src: "ssh_keypair_name = \"k\"\nssh_agent_auth = true"},
		{Src: "ssh_bastion_host = \"b\"\nssh_bastion_username = \"u\"", Want: "A bastion host needs", Line: 1},
		{Src: "ssh_bastion_host = \"b\"\nssh_bastion_agent_auth = true", Want: `needs the option "ssh_bastion_username"`},
		{Src: "ssh_bastion_username = \"u\"", Want: `no effect without "ssh_bastion_host"`, Line: 1, Warning: true},
		{Name: "unknown communicator skipped", Src: "communicator = build.Type\nssh_port = 22"},
	})
}

func TestPrepareDefaults(t *testing.T) {
	var c communicator.Config
	configtest.MustPrepare(t, "null", `ssh_username = "u"`, &c)
	want := communicator.Config{Type: "ssh", SSHConfig: communicator.SSHConfig{
		Username: "u", Port: 22, BastionPort: 22, Timeout: 5 * time.Minute, HandshakeAttempts: 10,
		KeepAliveInterval: 5 * time.Second, FileTransferMethod: "sftp",
	}}
	if fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}

	var d communicator.Config
	configtest.MustPrepare(t, "null", "ssh_keep_alive_interval = \"0s\"\nssh_wait_timeout = \"7m\"\nssh_bastion_host = \"b\"\nssh_bastion_username = \"u\"\nssh_bastion_password = \"p\"", &d)
	if d.KeepAliveInterval != 0 || d.Timeout != 7*time.Minute || d.BastionPort != 22 {
		t.Fatalf("keep-alive off, old timeout name, bastion port default: got %+v", d)
	}

	// Both timeouts set, as templates written for old and new Packer do:
	// ssh_wait_timeout wins, as in Packer.
	var both communicator.Config
	configtest.MustPrepare(t, "null", "ssh_timeout = \"1m\"\nssh_wait_timeout = \"9m\"", &both)
	if both.Timeout != 9*time.Minute {
		t.Fatalf("ssh_timeout 1m, ssh_wait_timeout 9m: waits %v, want 9m", both.Timeout)
	}

	home, _ := os.UserHomeDir()
	var e communicator.Config
	_, diags := configtest.Decode(t, "null", `ssh_private_key_file = "~/no-such-key-for-test"`, &e)
	if e.PrivateKeyFile != filepath.Join(home, "no-such-key-for-test") || !diags.HasErrors() {
		t.Fatalf("~ not expanded or missing file not reported: %q %v", e.PrivateKeyFile, diags)
	}
}
