package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// TestThroughSSH uploads a directory and a content string to a real sshd
// and downloads them back, with both transfer methods.
func TestThroughSSH(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, method := range []string{ssh.TransferSFTP, ssh.TransferSCP} {
		t.Run(method, func(t *testing.T) {
			comm, err := ssh.Connect(t.Context(), ssh.Config{Host: srv.Host, Port: srv.Port, User: "root", PrivateKey: srv.PrivateKey,
				Timeout: 10 * time.Second, FileTransfer: method}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { comm.Close() })
			machine := t.TempDir() // the "machine" is this host, over SSH
			dir := srcDir(t)

			steps := []string{
				fmt.Sprintf("source = %q\ndestination = %q", dir, machine+"/srv"),
				fmt.Sprintf("content = \"hello\"\ndestination = %q", machine+"/etc/motd"),
				fmt.Sprintf("source = %q\ndestination = %q", filepath.Join(dir, "run.sh"), machine+"/bin/"),
			}
			for _, s := range steps {
				if err := provision(t, comm, s); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"bin 755/", "bin/run.sh 755 #!/bin/sh", "etc 755/", "etc/motd 644 hello",
				"srv 755/", "srv/app 755/", "srv/app/a.txt 644 A", "srv/app/run.sh 755 #!/bin/sh", "srv/app/sub 755/", "srv/app/sub/b.txt 600 B"}
			if got := tree(t, machine); !slices.Equal(got, want) {
				t.Errorf("machine has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			local := t.TempDir()
			for _, s := range []string{
				fmt.Sprintf("direction = \"download\"\nsource = %q\ndestination = %q", machine+"/srv/app/", local+"/app"),
				fmt.Sprintf("direction = \"download\"\nsource = %q\ndestination = %q", machine+"/bin/run.sh", local+"/"),
			} {
				if err := provision(t, comm, s); err != nil {
					t.Fatal(err)
				}
			}
			want = []string{"app 755/", "app/a.txt 644 A", "app/run.sh 755 #!/bin/sh", "app/sub 755/", "app/sub/b.txt 600 B", "run.sh 755 #!/bin/sh"}
			if got := tree(t, local); !slices.Equal(got, want) {
				t.Errorf("downloaded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			_ = os.RemoveAll(machine)
		})
	}
}
