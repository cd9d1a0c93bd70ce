package ssh_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/internal/testutil/downloadtest"
	"github.com/bake-tool/bake/internal/testutil/sshd"
)

// TestDownloadDirStaysInside: a directory download writes nothing outside
// its destination: not when the machine's directory, downloaded twice,
// first holds links out of it and then directories and files under the
// links' names (SFTP copies links; SCP has none and sends what they point
// to, so it is not given them), nor when the destination already holds
// such links, or is such a link for the directory itself. Setuid and
// setgid bits do not come along.
func TestDownloadDirStaysInside(t *testing.T) {
	srv := sshd.Start(t, sshd.Options{})
	for _, tc := range transferCases {
		t.Run(tc.method+"/"+tc.user, func(t *testing.T) {
			c := transferComm(t, srv, tc.method, tc.user)
			ctx := t.Context()
			remote := filepath.Join(sshd.UserDir(t, tc.user), "m")
			l := downloadtest.New(t)
			shell := func(command string) {
				t.Helper()
				if _, stderr, status := run(t, c, command); status != 0 {
					t.Fatalf("exit %d: %s", status, stderr)
				}
			}
			if tc.method == ssh.TransferSFTP {
				t.Run("downloaded twice", func(t *testing.T) {
					dst := l.Dest("twice")
					shell(l.First(remote))
					if err := c.DownloadDir(ctx, remote+"/", dst); err != nil {
						t.Fatal(err)
					}
					for name, target := range l.Links() {
						if got, err := os.Readlink(filepath.Join(dst, name)); err != nil || got != target {
							t.Errorf("first download: %s links to %q (%v), want %q", name, got, err, target)
						}
					}
					shell(l.Second(remote))
					if err := c.DownloadDir(ctx, remote+"/", dst); err != nil {
						t.Logf("second download: %v", err)
					}
					l.CheckSecond(t, dst)
				})
			}
			t.Run("links already in the destination", func(t *testing.T) {
				dst := l.Dest("planted")
				l.Plant(t, dst)
				shell(l.Second(remote))
				if err := c.DownloadDir(ctx, remote+"/", dst); err != nil {
					t.Logf("download: %v", err)
				}
				l.CheckSecond(t, dst)
			})
			t.Run("links already in the destination, directory itself", func(t *testing.T) {
				dst := l.Dest("planted-itself")
				l.Plant(t, filepath.Join(dst, "m"))
				shell(l.Second(remote))
				if err := c.DownloadDir(ctx, remote, dst); err != nil {
					t.Logf("download: %v", err)
				}
				l.CheckSecond(t, filepath.Join(dst, "m"))
			})
			t.Run("the directory itself is a link", func(t *testing.T) {
				dst := l.Dest("itself")
				if err := os.MkdirAll(dst, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(l.Outside, filepath.Join(dst, "m")); err != nil {
					t.Fatal(err)
				}
				shell(l.Second(remote))
				if err := c.DownloadDir(ctx, remote, dst); err != nil {
					t.Logf("download: %v", err)
				}
				l.CheckSecond(t, filepath.Join(dst, "m"))
			})
			l.Check(t)
		})
	}
}
