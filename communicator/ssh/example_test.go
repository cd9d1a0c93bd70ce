package ssh_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/provisioners"
)

// A builder makes a temporary key, installs key.AuthorizedKey on the
// machine (a cloud-init seed, say), then connects while the machine boots.
func ExampleConnect() {
	ctx := context.Background()
	key, err := ssh.GenerateKeyPair()
	if err != nil {
		panic(err)
	}
	comm, err := ssh.Connect(ctx, ssh.Config{
		Host:         "127.0.0.1",
		Port:         2222,
		User:         "debian",
		PrivateKey:   key.PrivateKey,
		Timeout:      5 * time.Minute,
		FileTransfer: ssh.TransferSFTP,
	}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		// e.g. "ssh: no connection to 127.0.0.1:2222 after 5m0s: last
		// error: dial tcp 127.0.0.1:2222: connect: connection refused"
		fmt.Println(err)
		return
	}
	defer comm.Close()

	if err := comm.Upload(ctx, "/tmp/motd", strings.NewReader("baked\n"), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	status, err := comm.Run(ctx, &provisioners.Cmd{Command: "cat /tmp/motd", Stdout: os.Stdout, Stderr: os.Stderr})
	fmt.Println(status, err)
}
